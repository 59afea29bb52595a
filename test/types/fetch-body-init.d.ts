// The generated client (clients/typescript, checked here with the server's Node-only libs) names fetch's
// `BodyInit`, which the DOM lib declares globally and @types/node does not. Node's fetch is undici's: the same type.
type BodyInit = import('undici-types').BodyInit;
