// @switchboard/client: the typed client for the Switchboard API.
// Checked by `tsc -p clients/typescript` (DOM lib: it runs in browsers too), not by the server's Node-only check.
export { createSwitchboard, createSwitchboardClient, type SwitchboardOptions } from './client.js';
export { SwitchboardError, type SwitchboardErrorBody } from './errors.js';
export { uploadMedia, type MediaFile } from './media.js';
export { Switchboard } from './generated/sdk.gen.js';
export type * from './generated/types.gen.js';
export { connect, type ConnectedAccount, type ConnectOptions, type ConnectResult } from './connect.js';
