/**
 * @tt/light-ranker: a light pointwise ranker inside two-tower retrieval (MODEL.md section 4).
 * A `@tt/core` auxiliary head + re-ranker: `fitTwoTower(dataset, { stages: [lightRanker], model: { stages: [{ name: 'light-ranker' }] } })`;
 * a `Retriever` over the trained model then re-ranks its MIPS candidates.
 *
 * @packageDocumentation
 */
export {
  lightRanker, LightRanker, resolveLightRankerOptions, LIGHT_RANKER_DEFAULTS,
  type LightRankerOptions, type ResolvedLightRankerOptions,
} from './stage.js';
