/**
 * Clickjacking guard for the Approve button. The DApp page cannot script the
 * frame, but it could try to trick a click: make the frame transparent, cover
 * it with its own content, or pop it up under the cursor just before a click.
 * So Approve is enabled only while the prompt is fully visible — checked with
 * IntersectionObserver v2 (`trackVisibility`: false when the frame or any
 * ancestor is transparent, filtered, transformed or occluded) — and only
 * after it has been so for `minVisibleMs` without interruption. Browsers
 * without IntersectionObserver v2 get the delay only (docs/frame.md).
 */

export interface VisibilityGuard {
  stop(): void;
}

/** True when this browser reports occlusion (IntersectionObserver v2). */
export const tracksVisibility = typeof IntersectionObserverEntry !== 'undefined' && 'isVisible' in IntersectionObserverEntry.prototype;

/**
 * Calls `onChange(true)` once `target` has been fully visible for `minVisibleMs`, and `onChange(false)` as soon as it is not.
 */
export function guardVisibility(target: Element, onChange: (armed: boolean) => void, minVisibleMs = 600): VisibilityGuard {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let armed = false;
  const set = (visible: boolean) => {
    if (visible) {
      timer ??= setTimeout(() => {
        armed = true;
        onChange(true);
      }, minVisibleMs);
    } else {
      clearTimeout(timer);
      timer = undefined;
      if (armed) {
        armed = false;
      }
      onChange(false);
    }
  };
  onChange(false);
  if (!tracksVisibility) {
    set(true);
    return { stop: () => clearTimeout(timer) };
  }
  const observer = new IntersectionObserver(
    (entries) => {
      const e = entries[entries.length - 1];
      if (!e) return;
      const visible = (e as IntersectionObserverEntry & { isVisible?: boolean }).isVisible === true && e.intersectionRatio >= 0.99;
      set(visible);
    },
    // trackVisibility needs delay ≥ 100 ms (IntersectionObserver v2).
    { threshold: [0, 0.99, 1], trackVisibility: true, delay: 100 } as IntersectionObserverInit,
  );
  observer.observe(target);
  return {
    stop() {
      observer.disconnect();
      clearTimeout(timer);
    },
  };
}
