import { describe, expect, it } from "vitest";
import {
  connectionErrorText,
  grpcDetailText,
  instanceErrorText,
  listenErrorText,
  systemErrorCode,
} from "../../src/util/error-text.ts";

/** A Node socket error as net and tls raise them: a code and a message naming it. */
function socketError(code: string, message = `connect ${code} 127.0.0.1:6379`): Error {
  return Object.assign(new Error(message), { code });
}

const INSTANCE = "redis://127.0.0.1:6379";
// ioredis' texts, as version 6 words them.
const NOT_WRITEABLE = new Error("Stream isn't writeable and enableOfflineQueue options is false");
const CLOSED = new Error("Connection is closed.");

describe("instanceErrorText: a failed call to an instance, in our words", () => {
  it.each([
    ["ECONNREFUSED", `connection refused by ${INSTANCE}`],
    ["ECONNRESET", `connection reset by ${INSTANCE}`],
    ["ETIMEDOUT", `no answer from ${INSTANCE} while connecting`],
    ["ENOTFOUND", `the host of ${INSTANCE} does not resolve`],
    ["EHOSTUNREACH", `${INSTANCE} is unreachable (EHOSTUNREACH)`],
  ])("not connected after %s: says why", (code, text) => {
    expect(instanceErrorText(INSTANCE, NOT_WRITEABLE, socketError(code))).toBe(text);
    expect(instanceErrorText(INSTANCE, CLOSED, socketError(code))).toBe(text);
  });

  it("not connected for no known reason: says so, without ioredis' option names", () => {
    const text = instanceErrorText(INSTANCE, NOT_WRITEABLE);
    expect(text).toBe(`not connected to ${INSTANCE}`);
    expect(
      instanceErrorText(
        INSTANCE,
        new Error(
          'Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.',
        ),
      ),
    ).toBe(`not connected to ${INSTANCE}`);
  });

  it("a refused password or a certificate that does not verify names the instance and keeps the server's reason", () => {
    expect(
      instanceErrorText(
        INSTANCE,
        NOT_WRITEABLE,
        new Error("WRONGPASS invalid username-password pair or user is disabled."),
      ),
    ).toBe(`${INSTANCE} refused the credentials: WRONGPASS invalid username-password pair or user is disabled.`);
    const tls = Object.assign(new Error("self-signed certificate in certificate chain"), {
      code: "SELF_SIGNED_CERT_IN_CHAIN",
    });
    expect(instanceErrorText(INSTANCE, NOT_WRITEABLE, tls)).toBe(
      `TLS with ${INSTANCE} failed: self-signed certificate in certificate chain`,
    );
  });

  it("a command timeout, and anything else named by its instance", () => {
    expect(instanceErrorText(INSTANCE, new Error("Command timed out"))).toBe(`${INSTANCE} did not answer in time`);
    expect(instanceErrorText(INSTANCE, new Error("LOADING Redis is loading the dataset in memory\nmore"))).toBe(
      `${INSTANCE}: LOADING Redis is loading the dataset in memory`,
    );
  });
});

describe("grpcDetailText: grpc-js' connection failures", () => {
  it("an empty resolution note and the 'Last error' scaffolding give way to what happened", () => {
    const details =
      "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:50051. Resolution note: ";
    expect(grpcDetailText(details)).toBe("connection refused by 127.0.0.1:50051");
  });

  it("a name that does not resolve", () => {
    expect(grpcDetailText("Name resolution failed for target dns:nosuch.invalid:50051")).toBe(
      "the host of nosuch.invalid:50051 does not resolve",
    );
  });

  it("anything else keeps its text, without an empty resolution note", () => {
    expect(grpcDetailText("No connection established. Last error: something odd. Resolution note: ")).toBe(
      "No connection established. Last error: something odd",
    );
    expect(grpcDetailText('lock "a": only 1 of 3 instances answered (need 2)')).toBe(
      'lock "a": only 1 of 3 instances answered (need 2)',
    );
  });
});

describe("listenErrorText", () => {
  it("a taken port, from Node's error or from grpc-js' text", () => {
    expect(
      listenErrorText(socketError("EADDRINUSE", "listen EADDRINUSE: address already in use 0.0.0.0:9090")),
    ).toMatch(/^the address is already in use/);
    expect(
      listenErrorText(
        new Error(
          "No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use 127.0.0.1:50051]",
        ),
      ),
    ).toMatch(/^the address is already in use/);
  });

  it("a privileged port, an address of another host, an unknown text", () => {
    expect(listenErrorText(socketError("EACCES", "listen EACCES: permission denied 0.0.0.0:80"))).toMatch(
      /^permission denied/,
    );
    expect(
      listenErrorText(
        new Error(
          "No address added out of total 1 resolved errors: [listen EADDRNOTAVAIL: address not available 10.255.255.1]",
        ),
      ),
    ).toBe("no interface of this host has that address");
    expect(listenErrorText(new Error("something else"))).toBe("something else");
  });
});

describe("systemErrorCode and connectionErrorText", () => {
  it("finds the code on the error, its cause (fetch) or in its text", () => {
    expect(systemErrorCode(socketError("ECONNREFUSED"))).toBe("ECONNREFUSED");
    expect(systemErrorCode(new TypeError("fetch failed", { cause: socketError("ECONNREFUSED") }))).toBe("ECONNREFUSED");
    expect(systemErrorCode(new Error("listen EADDRINUSE: address already in use"))).toBe("EADDRINUSE");
    expect(systemErrorCode(new Error("ERR unknown command 'CONFIG'"))).toBeUndefined();
  });

  it("says nothing of an error it cannot put in our words", () => {
    expect(connectionErrorText("127.0.0.1:9090", new Error("HTTP 500"))).toBeUndefined();
  });
});
