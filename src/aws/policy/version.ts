/** The policy language versions a document may name (IAM JSON policy reference, "Version"). */
export type PolicyVersion = '2012-10-17' | '2008-10-17';
