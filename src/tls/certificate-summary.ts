import { X509Certificate } from "node:crypto";

/** What logs say of a certificate: who it is, until when, and its fingerprint (never the PEM). */
export function certificateSummary(pem: Buffer): { subject: string; validTo: string; fingerprint256: string } {
  const x509 = new X509Certificate(pem);
  return { subject: x509.subject, validTo: x509.validTo, fingerprint256: x509.fingerprint256 };
}
