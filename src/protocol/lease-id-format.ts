/**
 * A lease id's shape on the wire: `<secret>.<fencing token>`, the secret
 * base64url of 16 to 128 characters, the token a decimal of up to 20 digits.
 */
export const LEASE_ID_PATTERN = /^([A-Za-z0-9_-]{16,128})\.(\d{1,20})$/;

/** Whether `text` has a lease id's shape (it may start with "-": secrets are base64url). */
export function looksLikeLeaseId(text: string): boolean {
  return LEASE_ID_PATTERN.test(text);
}
