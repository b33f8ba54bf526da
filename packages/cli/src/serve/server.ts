/**
 * `tt serve`: a checkpoint's retriever behind an HTTP JSON API (Fastify).
 *
 *   POST /retrieve         one request  -> {items, scores, path[, unknown_history]}
 *   POST /retrieve/batch   {requests: [...]} -> {results: [...]}, same order
 *   GET  /health           what is serving (checkpoint, generation, catalogue, paths)
 *   GET  /metrics          Prometheus text: requests, latency histogram, paths, process
 *   POST /admin/reload     load a checkpoint beside the serving one, then swap (also SIGHUP)
 *
 * Requests that arrive together (the same event-loop turn) are answered by one user-tower pass
 * and one index search (micro-batching). A hot swap loads and warms the new checkpoint while the
 * old one serves, then switches with one assignment; requests already under way finish on the
 * old one, which is freed when the last of them is done. A checkpoint that fails to load leaves
 * the old one serving. Every error is JSON `{statusCode, code, field, message}`.
 *
 * Not done here: authentication (bind to 127.0.0.1, the default, or put a proxy in front), TLS.
 */
import { resolve as resolvePath } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { loadCheckpoint, Retriever, StateError, TtError, type ItemId, type ServedResult, type TwoTowerModel, type UserRequest } from '@tt/core';
import type { MipsIndex } from '@tt/mips';
import { stageDefinitions } from '../stages.js';
import { answerToJson, requestFromJson, type RequestJson } from './requests.js';
import { createMetrics, type ServerMetrics } from './metrics.js';

/** Options of {@link createServer}. */
export interface ServeOptions {
  /** the checkpoint directory to serve (and to reload on SIGHUP / `POST /admin/reload`) */
  readonly checkpoint: string;
  /** TCP port; default 8080, 0 for any free port */
  readonly port?: number;
  /** address to listen on; default 127.0.0.1 (this machine only) */
  readonly host?: string;
  /** largest request body in bytes; default 1 MiB (larger: 413) */
  readonly bodyLimit?: number;
  /** most requests in one `POST /retrieve/batch`; default 1000 */
  readonly maxBatch?: number;
  /** where to write one line per event (load, swap, failed load); default stderr */
  readonly log?: (line: string) => void;
}

/** What is serving: `GET /health` and the answer of a reload. */
export interface ServingInfo {
  /** the checkpoint directory (absolute) */
  readonly checkpoint: string;
  /** 1 for the first checkpoint, +1 per hot swap */
  readonly generation: number;
  /** when it was loaded (ISO 8601) */
  readonly loadedAt: string;
  /** users with an id row */
  readonly users: number;
  /** items in the catalogue (the largest k) */
  readonly items: number;
  /** the MIPS index kind */
  readonly index: 'exact' | 'hnsw';
  /** dense user features a request may carry (`user_features`); 0: none */
  readonly userFeatures: number;
  /** history items the model reads (`history`); 0: no history encoder */
  readonly historyLength: number;
}

/** A running (or ready) server. */
export interface TtServer {
  /** the Fastify app (for `inject` in tests, or more routes) */
  readonly app: FastifyInstance;
  /** its metrics registry and series */
  readonly metrics: ServerMetrics;
  /** Starts listening; resolves to the base URL (e.g. `http://127.0.0.1:8080`). */
  listen(): Promise<string>;
  /**
   * Loads `checkpoint` (default: the one being served, re-read) beside the serving one, warms it
   * and swaps; reloads run one at a time.
   * @throws the load's error; the previous checkpoint then keeps serving
   */
  reload(checkpoint?: string): Promise<ServingInfo>;
  /** What is serving now. */
  info(): ServingInfo;
  /** Stops accepting connections, lets requests under way finish, frees the model and index. */
  close(): Promise<void>;
}

/** A loaded checkpoint and the requests using it (freed once retired and idle). */
interface Serving {
  readonly retriever: Retriever<MipsIndex>;
  readonly model: TwoTowerModel;
  readonly info: ServingInfo;
  inFlight: number;
  retired: boolean;
}

/** An answer and the generation of the checkpoint that gave it. */
interface Answered {
  readonly result: ServedResult;
  readonly generation: number;
}

interface Waiting {
  readonly request: UserRequest;
  readonly resolve: (r: Answered) => void;
  readonly reject: (e: unknown) => void;
}

/** Most users one micro-batch serves (the rest wait for the next turn). */
const MICRO_BATCH = 256;

const itemId = { type: ['string', 'integer'] };
const requestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['k'],
  properties: {
    user_id: { type: ['string', 'integer'] },
    user_features: { type: 'array', items: { type: 'number' }, maxItems: 65536 },
    history: { type: 'array', items: itemId, maxItems: 10000 },
    k: { type: 'integer', minimum: 1 },
    exclude: { type: 'array', items: itemId },
    include_seen: { type: 'boolean' },
    filter: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: itemId } } },
  },
} as const;
const answerSchema = {
  type: 'object',
  properties: {
    user_id: { type: ['string', 'integer'] },
    items: { type: 'array', items: itemId },
    scores: { type: 'array', items: { type: 'number' } },
    path: { type: 'string' },
    unknown_history: { type: 'integer' },
  },
} as const;
const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, code: { type: 'string' }, field: { type: ['string', 'null'] }, message: { type: 'string' } },
} as const;

/** Library field names (`requests[0].userFeatures`) as the JSON request spells them (`user_features`). */
function jsonField(field: string, single: boolean): string {
  const snake = field.replace(/userId/g, 'user_id').replace(/userFeatures/g, 'user_features').replace(/includeSeen/g, 'include_seen');
  return single ? snake.replace(/^requests\[\d+\]\.?/, '') : snake;
}

/** The error body every failure gets: status, a stable code, the field it is about, a message. */
function errorBody(e: unknown, single: boolean): { statusCode: number; code: string; field: string | null; message: string } {
  if (e instanceof TtError) {
    // StateError: the server cannot answer (e.g. no popularity list), not the request's fault
    return { statusCode: e instanceof StateError ? 500 : 400, code: e.code, field: e.field === undefined ? null : jsonField(e.field, single) || null, message: jsonField(e.message, single) };
  }
  const f = e as FastifyError & { validation?: Array<{ instancePath: string; keyword: string; params: Record<string, unknown>; message?: string }> };
  if (f.validation && f.validation.length > 0) {
    const v = f.validation[0]!;
    const extra = (v.params['additionalProperty'] ?? v.params['missingProperty']) as string | undefined;
    const path = [...v.instancePath.split('/').filter(Boolean), ...(extra ? [extra] : [])];
    const field = path.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
    const what = v.keyword === 'additionalProperties' ? `is not a field of this request (${v.message})` : (v.message ?? v.keyword);
    return { statusCode: 400, code: 'E_VALUE', field: field || null, message: `${field || 'body'}: ${what}` };
  }
  switch (f.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { statusCode: 400, code: 'E_JSON', field: null, message: `body: ${f.message}` };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { statusCode: 413, code: 'E_TOO_LARGE', field: null, message: `body: ${f.message}` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { statusCode: 415, code: 'E_MEDIA_TYPE', field: null, message: `body: ${f.message} (send application/json)` };
    default:
      if (typeof f.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) return { statusCode: f.statusCode, code: 'E_REQUEST', field: null, message: f.message };
      return { statusCode: 500, code: 'E_INTERNAL', field: null, message: 'internal error (see the server log)' };
  }
}

async function load(dir: string, generation: number): Promise<Serving> {
  const checkpoint = await loadCheckpoint(dir, { stages: stageDefinitions });
  let retriever: Retriever<MipsIndex> | undefined;
  try {
    retriever = await Retriever.fromCheckpoint(checkpoint);
    const { model } = checkpoint;
    // warm-up: the first pass compiles kernels and touches the index; no client pays for it
    const first: ItemId | undefined = model.data.userIds[0];
    await retriever.serve([{ userId: first, k: Math.min(10, retriever.index.size) }]);
    const info: ServingInfo = {
      checkpoint: dir, generation, loadedAt: new Date().toISOString(), users: model.data.userIds.length, items: retriever.index.size,
      index: retriever.index.kind, userFeatures: model.config.schema.userFeatureDim, historyLength: model.historyLength,
    };
    return { retriever, model, info, inFlight: 0, retired: false };
  } catch (e) {
    await retriever?.dispose();
    if (!retriever) await checkpoint.index?.dispose();
    checkpoint.model.dispose();
    throw e;
  }
}

async function free(s: Serving): Promise<void> {
  await s.retriever.dispose();
  s.model.dispose();
}

/**
 * Loads the checkpoint and builds the app (not yet listening).
 * @throws what `loadCheckpoint` throws (CorruptFileError, MismatchError, ConfigError)
 */
export async function createServer(options: ServeOptions): Promise<TtServer> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const metrics = createMetrics();
  const maxBatch = options.maxBatch ?? 1000;
  let dir = resolvePath(options.checkpoint);
  let serving: Serving;
  try {
    serving = await load(dir, 1);
  } catch (e) {
    metrics.reloads.inc({ result: 'failed' });
    throw e;
  }
  metrics.reloads.inc({ result: 'ok' });
  metrics.generation.set(1);
  metrics.items.set(serving.info.items);
  log(`[tt] serving ${dir}: ${serving.info.items} items (${serving.info.index} index), ${serving.info.users} users`);

  const acquire = (): Serving => {
    const s = serving;
    s.inFlight++;
    return s;
  };
  const release = (s: Serving): void => {
    s.inFlight--;
    if (s.retired && s.inFlight === 0) void free(s);
  };

  // micro-batching: requests of one event-loop turn share a user-tower pass and an index search
  let queue: Waiting[] = [];
  let scheduled = false;
  const flush = async (): Promise<void> => {
    scheduled = false;
    const batch = queue.length <= MICRO_BATCH ? queue : queue.slice(0, MICRO_BATCH);
    queue = queue.length <= MICRO_BATCH ? [] : queue.slice(MICRO_BATCH);
    if (queue.length > 0) schedule();
    const s = acquire();
    try {
      metrics.batchSize.observe(batch.length);
      let results: ServedResult[];
      try {
        results = await s.retriever.serve(batch.map((w) => w.request));
      } catch {
        // one bad request must not fail its neighbours: answer each alone, with its own error
        for (const w of batch) await s.retriever.serve([w.request]).then(([r]) => w.resolve({ result: r!, generation: s.info.generation }), w.reject);
        return;
      }
      batch.forEach((w, i) => w.resolve({ result: results[i]!, generation: s.info.generation }));
    } finally {
      release(s);
    }
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => void flush());
  };
  const answer = (request: UserRequest): Promise<Answered> => new Promise((resolve, reject) => {
    queue.push({ request, resolve, reject });
    schedule();
  });

  const app = Fastify({
    logger: false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // reject rather than repair: no stripped unknown fields, no "10" taken for 10
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, allowUnionTypes: true } },
  });
  app.removeContentTypeParser('text/plain'); // JSON only: anything else is a 415
  app.decorateRequest('ttStart', 0n);
  app.addHook('onRequest', async (req) => {
    (req as unknown as { ttStart: bigint }).ttStart = process.hrtime.bigint();
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, Number(process.hrtime.bigint() - (req as unknown as { ttStart: bigint }).ttStart) / 1e9);
  });
  app.setErrorHandler((e, req, reply) => {
    const body = errorBody(e, req.routeOptions.url !== '/retrieve/batch');
    if (body.statusCode === 500) log(`[tt] ${req.method} ${req.url}: ${(e as Error)?.stack ?? String(e)}`);
    void reply.code(body.statusCode).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ statusCode: 404, code: 'E_NOT_FOUND', field: null, message: `no route ${req.method} ${req.url}` });
  });

  const sendModel = (reply: FastifyReply, generation: number) => reply.header('x-tt-generation', String(generation));
  app.post<{ Body: RequestJson }>('/retrieve', {
    schema: { body: requestSchema, response: { 200: answerSchema, '4xx': errorSchema, '5xx': errorSchema } },
  }, async (req, reply) => {
    const request = requestFromJson(req.body, 'body');
    const { result, generation } = await answer(request);
    metrics.answers.inc({ path: result.path });
    sendModel(reply, generation);
    return answerToJson(result, request.userId);
  });
  app.post<{ Body: { requests: RequestJson[] } }>('/retrieve/batch', {
    schema: {
      body: { type: 'object', additionalProperties: false, required: ['requests'], properties: { requests: { type: 'array', minItems: 1, maxItems: maxBatch, items: requestSchema } } },
      response: { 200: { type: 'object', properties: { results: { type: 'array', items: answerSchema } } }, '4xx': errorSchema, '5xx': errorSchema },
    },
  }, async (req, reply) => {
    const requests = req.body.requests.map((r, i) => requestFromJson(r, `requests[${i}]`));
    const s = acquire();
    try {
      metrics.batchSize.observe(requests.length);
      const results = await s.retriever.serve(requests);
      for (const r of results) metrics.answers.inc({ path: r.path });
      sendModel(reply, s.info.generation);
      return { results: results.map((r, i) => answerToJson(r, requests[i]!.userId)) };
    } finally {
      release(s);
    }
  });
  app.get('/health', async () => ({ status: 'ok', ...serving.info }));
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (checkpoint?: string): Promise<ServingInfo> => {
    const run = reloading.then(async () => {
      const next = checkpoint === undefined ? dir : resolvePath(checkpoint);
      let loaded: Serving;
      try {
        loaded = await load(next, serving.info.generation + 1);
      } catch (e) {
        metrics.reloads.inc({ result: 'failed' });
        log(`[tt] reload of ${next} failed, still serving ${serving.info.checkpoint} (generation ${serving.info.generation}): ${(e as Error).message}`);
        throw e;
      }
      const old = serving;
      serving = loaded; // the swap: requests from here on use the new checkpoint
      dir = next;
      old.retired = true;
      if (old.inFlight === 0) await free(old);
      metrics.reloads.inc({ result: 'ok' });
      metrics.generation.set(loaded.info.generation);
      metrics.items.set(loaded.info.items);
      log(`[tt] swapped to ${next} (generation ${loaded.info.generation}): ${loaded.info.items} items`);
      return loaded.info;
    });
    reloading = run.catch(() => undefined);
    return run;
  };
  app.post<{ Body: { checkpoint?: string } | undefined }>('/admin/reload', {
    schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { checkpoint: { type: 'string', minLength: 1 } } } },
  }, async (req, reply) => {
    try {
      return { status: 'ok', ...(await reload(req.body?.checkpoint)) };
    } catch (e) {
      const body = errorBody(e, true);
      // a checkpoint that cannot be loaded is the request's input; the old one still serves
      return reply.code(e instanceof TtError ? 422 : 500).send({ ...body, statusCode: e instanceof TtError ? 422 : 500, serving: serving.info });
    }
  });

  return {
    app,
    metrics,
    async listen() {
      return app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
    },
    reload,
    info: () => serving.info,
    async close() {
      await app.close();
      await reloading;
      await free(serving);
    },
  };
}
