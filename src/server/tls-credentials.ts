import { experimental, ServerCredentials } from "@grpc/grpc-js";
import type { SidecarOptions } from "../config/options.ts";
import type { Logger } from "../log/logger.ts";
import { CertificateFiles } from "../tls/certificate-provider.ts";

export type TlsOptions = Pick<
  SidecarOptions,
  "tlsCertFile" | "tlsKeyFile" | "tlsClientCaFile" | "tlsRefreshIntervalMs"
>;

export interface ApiCredentials {
  credentials: ServerCredentials;
  /** "plaintext", "tls" or "mutual-tls", for the start-up log line. */
  mode: "plaintext" | "tls" | "mutual-tls";
  /** The certificate files behind TLS (reloaded on change); undefined in plaintext. */
  files: CertificateFiles | undefined;
  /** Stops re-reading the files. */
  close(): void;
}

/**
 * Server credentials of the gRPC API: plaintext when no certificate is set;
 * TLS with LOCK_TLS_CERT and LOCK_TLS_KEY; mutual TLS (a client certificate
 * signed by LOCK_TLS_CLIENT_CA is required) when that is set too. The files
 * are read now (a problem throws a ConfigError naming the setting) and again
 * every LOCK_TLS_REFRESH_INTERVAL; new connections get the latest valid set,
 * open ones keep the certificate they were made with.
 */
export function apiCredentials(options: TlsOptions, logger: Logger): ApiCredentials {
  if (options.tlsCertFile === "") {
    return {
      credentials: ServerCredentials.createInsecure(),
      mode: "plaintext",
      files: undefined,
      close: () => undefined,
    };
  }
  const mutual = options.tlsClientCaFile !== "";
  const files = new CertificateFiles(
    {
      certificate: { path: options.tlsCertFile, setting: "LOCK_TLS_CERT / --tls-cert" },
      privateKey: { path: options.tlsKeyFile, setting: "LOCK_TLS_KEY / --tls-key" },
      ...(mutual ? { ca: { path: options.tlsClientCaFile, setting: "LOCK_TLS_CLIENT_CA / --tls-client-ca" } } : {}),
    },
    options.tlsRefreshIntervalMs,
    logger,
  );
  // grpc-js 1.14 declares the first parameter as the CA provider, but its
  // implementation takes the identity (certificate and key) provider first
  // and the CA provider second; one object serves as both here, and the TLS
  // tests prove which certificate is presented and that client CAs apply.
  const credentials = experimental.createCertificateProviderServerCredentials(files, mutual ? files : null, mutual);
  return { credentials, mode: mutual ? "mutual-tls" : "tls", files, close: () => files.close() };
}
