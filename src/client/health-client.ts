import {
  ChannelCredentials,
  makeGenericClientConstructor,
  type CallOptions,
  type ChannelOptions,
  type ServiceError,
} from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** grpc.health.v1 serving states as strings (the definition loads enums as names). */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

interface RawHealthClient {
  check(
    request: { service: string },
    options: CallOptions,
    callback: (error: ServiceError | null, response?: { status: ServingStatus }) => void,
  ): void;
  close(): void;
}

const Constructor = makeGenericClientConstructor(healthService, "Health");

/** A promise-based grpc.health.v1.Health client (lockctl status). */
export class HealthClient {
  readonly #raw: RawHealthClient;

  constructor(
    address: string,
    credentials: ChannelCredentials = ChannelCredentials.createInsecure(),
    channelOptions: ChannelOptions = {},
  ) {
    this.#raw = new Constructor(address, credentials, channelOptions) as unknown as RawHealthClient;
  }

  /** The serving state of `service` ("" for the whole server). */
  check(service: string, options: CallOptions = {}): Promise<ServingStatus> {
    return new Promise((resolve, reject) =>
      this.#raw.check({ service }, options, (error, response) =>
        error ? reject(error) : resolve(response?.status ?? "UNKNOWN"),
      ),
    );
  }

  close(): void {
    this.#raw.close();
  }
}
