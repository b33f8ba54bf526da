/**
 * The stage definitions the CLI can rebuild checkpoints with. Stage packages add theirs here as
 * they land; the base model needs none.
 */
import type { StageDefinition } from '@tt/core';

export const stageDefinitions: readonly StageDefinition[] = [];
