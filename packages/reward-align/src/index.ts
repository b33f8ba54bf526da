/**
 * @tt/reward-align: the ranker as a reward model for two-tower retrieval (MODEL.md section 6).
 * A `@tt/core` batch-loss stage: `fitTwoTower(dataset, { stages: [rewardAlign], model: { stages: [{ name: 'reward-align' }] } })`.
 *
 * @packageDocumentation
 */
export {
  rewardAlign, rewardAlignWith, truthScorer, resolveRewardAlignOptions, warmupWeight, softmaxKl, REWARD_ALIGN_DEFAULTS,
  type RewardAlignOptions, type RewardAlignStage, type RewardScorer, type ResolvedRewardAlignOptions,
} from './stage.js';
export { LinearProxy, TowerProxy, type RewardProxy, type ProxyStep } from './proxy.js';
