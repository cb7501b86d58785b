import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import {
  ChannelCredentials,
  makeGenericClientConstructor,
  type CallOptions,
  type ChannelOptions,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  AcquireRequestSchema,
  DescribeRequestSchema,
  ExtendRequestSchema,
  HoldRequestSchema,
  KeepAliveRequestSchema,
  ListLeasesRequestSchema,
  LockService,
  ReleaseRequestSchema,
  type AcquireResponse,
  type DescribeResponse,
  type ExtendResponse,
  type HoldResponse,
  type KeepAliveManyRequest,
  type KeepAliveManyResponse,
  type KeepAliveResponse,
  type ListLeasesResponse,
  type ReleaseResponse,
} from "../../gen/lock/v1/lock_pb.ts";
import { grpcServiceDefinition } from "../protocol/grpc-service-definition.ts";

type Unary<Req, Res> = (
  request: Req,
  options: CallOptions,
  callback: (error: ServiceError | null, response?: Res) => void,
) => unknown;

interface RawClient {
  acquire: Unary<unknown, AcquireResponse>;
  extend: Unary<unknown, ExtendResponse>;
  release: Unary<unknown, ReleaseResponse>;
  describe: Unary<unknown, DescribeResponse>;
  listLeases: Unary<unknown, ListLeasesResponse>;
  keepAlive(request: unknown, options: CallOptions): ClientReadableStream<KeepAliveResponse>;
  hold(request: unknown, options: CallOptions): ClientReadableStream<HoldResponse>;
  keepAliveMany(options: CallOptions): ClientDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse>;
  close(): void;
  waitForReady(deadline: Date, callback: (error?: Error) => void): void;
}

const Constructor = makeGenericClientConstructor(grpcServiceDefinition(LockService), "LockService");

/**
 * A promise-based lock.v1.LockService client built from the generated
 * descriptors (tests, benchmarks and lockctl use it). Calls reject with the
 * grpc-js ServiceError, whose `code` is the gRPC status.
 */
export class LockClient {
  readonly #raw: RawClient;

  constructor(
    address: string,
    credentials: ChannelCredentials = ChannelCredentials.createInsecure(),
    channelOptions: ChannelOptions = {},
  ) {
    this.#raw = new Constructor(address, credentials, channelOptions) as unknown as RawClient;
  }

  acquire(request: MessageInitShape<typeof AcquireRequestSchema>, options: CallOptions = {}): Promise<AcquireResponse> {
    return this.#unary(this.#raw.acquire, create(AcquireRequestSchema, request), options);
  }

  extend(request: MessageInitShape<typeof ExtendRequestSchema>, options: CallOptions = {}): Promise<ExtendResponse> {
    return this.#unary(this.#raw.extend, create(ExtendRequestSchema, request), options);
  }

  release(request: MessageInitShape<typeof ReleaseRequestSchema>, options: CallOptions = {}): Promise<ReleaseResponse> {
    return this.#unary(this.#raw.release, create(ReleaseRequestSchema, request), options);
  }

  /** Who holds the lock and who waits, as a majority of the sidecar's instances sees it. */
  describe(
    request: MessageInitShape<typeof DescribeRequestSchema>,
    options: CallOptions = {},
  ): Promise<DescribeResponse> {
    return this.#unary(this.#raw.describe, create(DescribeRequestSchema, request), options);
  }

  /** One page of the leases the sidecar holds (no lease ids). */
  listLeases(
    request: MessageInitShape<typeof ListLeasesRequestSchema>,
    options: CallOptions = {},
  ): Promise<ListLeasesResponse> {
    return this.#unary(this.#raw.listLeases, create(ListLeasesRequestSchema, request), options);
  }

  keepAlive(
    request: MessageInitShape<typeof KeepAliveRequestSchema>,
    options: CallOptions = {},
  ): ClientReadableStream<KeepAliveResponse> {
    return this.#raw.keepAlive(create(KeepAliveRequestSchema, request), options);
  }

  hold(
    request: MessageInitShape<typeof HoldRequestSchema>,
    options: CallOptions = {},
  ): ClientReadableStream<HoldResponse> {
    return this.#raw.hold(create(HoldRequestSchema, request), options);
  }

  /** A KeepAliveMany stream: write keep and stop items (create(KeepAliveManyRequestSchema, …)), read the batches. */
  keepAliveMany(options: CallOptions = {}): ClientDuplexStream<KeepAliveManyRequest, KeepAliveManyResponse> {
    return this.#raw.keepAliveMany(options);
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#raw.waitForReady(new Date(Date.now() + timeoutMs), (error) => (error ? reject(error) : resolve())),
    );
  }

  close(): void {
    this.#raw.close();
  }

  #unary<Res>(method: Unary<unknown, Res>, request: unknown, options: CallOptions): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(this.#raw, request, options, (error, response) => (error ? reject(error) : resolve(response as Res)));
    });
  }
}
