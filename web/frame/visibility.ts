/**
 * Clickjacking guard for the Approve button. The DApp page cannot script the
 * frame, but it could try to trick a click: make the frame transparent, cover
 * it with its own content, or pop it up under the cursor just before a click.
 * So Approve is enabled only while the prompt is fully visible — checked with
 * IntersectionObserver v2 (`trackVisibility`: false when the frame or any
 * ancestor is transparent, filtered, transformed or occluded) — and only
 * after it has been so for `minVisibleMs` without interruption, and only
 * while the frame is at least 250×250 CSS px (a frame shrunk to a button's
 * size would show nothing of the request). Browsers
 * without IntersectionObserver v2 get the delay only (docs/frame.md).
 */

export interface VisibilityGuard {
  stop(): void;
}

/** True when this browser reports occlusion (IntersectionObserver v2). */
export const tracksVisibility = typeof IntersectionObserverEntry !== 'undefined' && 'isVisible' in IntersectionObserverEntry.prototype;

/** A frame shrunk below this (CSS px) cannot show the request legibly: Approve stays off. */
const MIN_SIZE = 250;

function bigEnough(): boolean {
  return window.innerWidth >= MIN_SIZE && window.innerHeight >= MIN_SIZE;
}

/**
 * Calls `onChange(true)` once `target` has been fully visible for `minVisibleMs`, and `onChange(false)` as soon as it is not.
 */
export function guardVisibility(target: Element, onChange: (armed: boolean) => void, minVisibleMs = 600): VisibilityGuard {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const set = (visible: boolean) => {
    if (visible) {
      // Armed only after an unbroken visible stretch: a frame flashed under the cursor stays disarmed.
      timer ??= setTimeout(() => onChange(true), minVisibleMs);
    } else {
      clearTimeout(timer);
      timer = undefined;
      onChange(false);
    }
  };
  onChange(false);
  // The frame's size changes without crossing an intersection threshold: re-check on resize.
  let observedVisible = !tracksVisibility;
  const onResize = () => set(observedVisible && bigEnough());
  window.addEventListener('resize', onResize);
  if (!tracksVisibility) {
    set(bigEnough());
    return {
      stop() {
        window.removeEventListener('resize', onResize);
        clearTimeout(timer);
      },
    };
  }
  const observer = new IntersectionObserver(
    (entries) => {
      const e = entries[entries.length - 1];
      if (!e) return;
      observedVisible = (e as IntersectionObserverEntry & { isVisible?: boolean }).isVisible === true && e.intersectionRatio >= 0.99;
      set(observedVisible && bigEnough());
    },
    // trackVisibility needs delay ≥ 100 ms (IntersectionObserver v2).
    { threshold: [0, 0.99, 1], trackVisibility: true, delay: 100 } as IntersectionObserverInit,
  );
  observer.observe(target);
  return {
    stop() {
      observer.disconnect();
      window.removeEventListener('resize', onResize);
      clearTimeout(timer);
    },
  };
}
