import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";

/**
 * A lock.v1.LockService client that sends request bytes exactly as given
 * (hand-built protobuf, possibly malformed) and hands back response bytes,
 * for tests of what the server does with input no generated client sends.
 */
export type Rpc = "Acquire" | "Extend" | "Release" | "KeepAlive";

export interface RawAnswer {
  code: number;
  details: string;
  /** Response messages (one for unary calls that succeeded, any number for KeepAlive). */
  messages: Buffer[];
}

const passThrough = (bytes: Buffer): Buffer => bytes;

export class RawLockClient {
  readonly #client: Client;

  constructor(address: string) {
    this.#client = new Client(address, credentials.createInsecure());
  }

  /**
   * Sends `request` to `rpc`. KeepAlive streams still open after
   * `streamSettleMs` are cancelled and reported with code -1 (they were
   * accepted and kept renewing).
   */
  call(rpc: Rpc, request: Buffer, options: { deadlineMs?: number; streamSettleMs?: number } = {}): Promise<RawAnswer> {
    const path = `/lock.v1.LockService/${rpc}`;
    const deadline = Date.now() + (options.deadlineMs ?? 5000);
    if (rpc !== "KeepAlive") {
      return new Promise((resolve) => {
        this.#client.makeUnaryRequest(
          path,
          passThrough,
          passThrough,
          request,
          new Metadata(),
          { deadline },
          (error: ServiceError | null, response?: Buffer) =>
            resolve(
              error
                ? { code: error.code, details: error.details, messages: [] }
                : { code: status.OK, details: "", messages: response ? [response] : [] },
            ),
        );
      });
    }
    return new Promise((resolve) => {
      const stream = this.#client.makeServerStreamRequest(path, passThrough, passThrough, request, new Metadata(), {
        deadline,
      });
      const messages: Buffer[] = [];
      let settled = false;
      const finish = (answer: RawAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const timer = setTimeout(() => {
        finish({ code: -1, details: "still open", messages });
        stream.cancel();
      }, options.streamSettleMs ?? 300);
      stream.on("data", (message: Buffer) => messages.push(message));
      stream.on("error", (error: ServiceError) => finish({ code: error.code, details: error.details, messages }));
      stream.on("end", () => finish({ code: status.OK, details: "", messages }));
    });
  }

  close(): void {
    this.#client.close();
  }
}

/** Protobuf wire format, by hand: enough to write any field, valid or not. */
export const wire = {
  varint(value: bigint | number): Buffer {
    // Negative int64/int32 values are sent as their 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? byte | 0x80 : byte);
    } while (v > 0n);
    return Buffer.from(out);
  },

  tag(field: number, wireType: number): Buffer {
    return wire.varint((BigInt(field) << 3n) | BigInt(wireType));
  },

  /** A length-delimited field (string, bytes or sub-message). */
  bytes(field: number, payload: Buffer | string): Buffer {
    const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
    return Buffer.concat([wire.tag(field, 2), wire.varint(data.length), data]);
  },

  uint(field: number, value: bigint | number): Buffer {
    return Buffer.concat([wire.tag(field, 0), wire.varint(value)]);
  },

  /** A google.protobuf.Duration sub-message; fields left out when undefined. */
  duration(field: number, seconds?: bigint | number, nanos?: number): Buffer {
    const parts: Buffer[] = [];
    if (seconds !== undefined) parts.push(wire.uint(1, seconds));
    if (nanos !== undefined) parts.push(wire.uint(2, nanos));
    return wire.bytes(field, Buffer.concat(parts));
  },

  message(...fields: Buffer[]): Buffer {
    return Buffer.concat(fields);
  },
};
