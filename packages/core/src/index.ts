/**
 * @tt/core: two-tower retrieval. This release holds the runtime layer: backend choice with the
 * wasm/cpu kernel patches, stopGradient, and the shared errors. Towers, loss, training, data,
 * evaluation and checkpoints build on it (issue "@tt/core and @tt/cli").
 */
export * from './errors.js';
export { initBackend, describeBackend, type BackendInfo, type BackendName, type InitBackendOptions } from './runtime/backend.js';
export { stopGradient } from './runtime/stop-gradient.js';
