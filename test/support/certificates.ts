import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A PEM certificate and its key, as files and as bytes. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface Authority extends Issued {
  name: string;
}

/**
 * Throwaway certificates made with the openssl CLI at test time (nothing is
 * committed): P-256 keys, one day of validity, in a temporary directory that
 * `remove()` deletes.
 */
export class TestCertificates {
  readonly dir: string;
  #serial = 1;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<TestCertificates> {
    return new TestCertificates(await mkdtemp(join(tmpdir(), "lock-certs-")));
  }

  /** A self-signed CA that can sign certificates. */
  async authority(name: string): Promise<Authority> {
    const base = join(this.dir, name);
    await run("openssl", [
      "req",
      "-x509",
      "-new",
      "-nodes",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.crt`,
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    return { name, ...(await this.#load(base)) };
  }

  /**
   * A certificate signed by `ca`: for a server (`serverAuth`, valid for
   * 127.0.0.1 and localhost) or a client (`clientAuth`).
   */
  async issue(ca: Authority, name: string, use: "server" | "client"): Promise<Issued> {
    const base = join(this.dir, name);
    await run("openssl", [
      "req",
      "-new",
      "-nodes",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-keyout",
      `${base}.key`,
      "-out",
      `${base}.csr`,
      "-subj",
      `/CN=${name}`,
    ]);
    const extensions = [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      use === "server"
        ? "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost"
        : "extendedKeyUsage=clientAuth",
    ].join("\n");
    await writeFile(`${base}.ext`, `${extensions}\n`);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      ca.certFile,
      "-CAkey",
      ca.keyFile,
      "-set_serial",
      String(this.#serial++),
      "-days",
      "1",
      "-out",
      `${base}.crt`,
      "-extfile",
      `${base}.ext`,
    ]);
    return this.#load(base);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  async #load(base: string): Promise<Issued> {
    const certFile = `${base}.crt`;
    const keyFile = `${base}.key`;
    return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
  }
}
