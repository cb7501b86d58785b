/** Why a KeepAlive lease was lost: defined with the lease session, named here for the metrics. */
export { LEASE_LOSS_REASONS, type LeaseLossReason } from "../engine/lease-session.ts";
