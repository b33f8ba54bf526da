/**
 * @tt/history-encoder: the user's recent positives, encoded by masked multi-head self-attention
 * over the shared item table, appended to the user tower of a `@tt/core` two-tower model.
 *
 * @packageDocumentation
 */
export { historyEncoder, HistoryEncoder, HISTORY_DEFAULTS, positionalTable, resolveHistoryOptions, type HistoryEncoderOptions } from './encoder.js';
export { fusedAttention, type FusedAttentionShape } from './fused-attention.js';
