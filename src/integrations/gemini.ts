import {
  FunctionCallingMode,
  GoogleGenerativeAI,
  GoogleGenerativeAIAbortError,
  GoogleGenerativeAIFetchError,
  HarmBlockThreshold,
  HarmCategory,
  type Content,
  type GenerateContentRequest,
  type GenerateContentResponse,
  type GenerativeModel,
  type Part,
  type SafetySetting,
  type Tool,
} from '@google/generative-ai';
import type { Config } from '../config';
import { traceHeaders } from '../lib/trace';

/**
 * Gemini through `@google/generative-ai` (REST: `POST {GEMINI_API_BASE_URL}/v1beta/models/{model}:generateContent`
 * and `:streamGenerateContent?alt=sse`). The SDK is only used here; callers see plain `Content`/`Part`
 * values and one error class.
 *
 * Parts are collected from the raw response chunks rather than from the SDK's aggregated response:
 * that keeps every function call of a chunk (the 0.24 aggregator reuses one object per chunk) and
 * any `thoughtSignature` the model attached to a call, which must be sent back with the history.
 */

export type { Content, Part, Tool } from '@google/generative-ai';

export const GEMINI_DEFAULTS = {
  /** One model call (the whole streamed body included). */
  timeoutMs: 30_000,
  maxOutputTokens: 2048,
  temperature: 0.7,
} as const;

const SAFETY_SETTINGS: SafetySetting[] = [
  HarmCategory.HARM_CATEGORY_HARASSMENT,
  HarmCategory.HARM_CATEGORY_HATE_SPEECH,
  HarmCategory.HARM_CATEGORY_SEXUALLY_EXPLICIT,
  HarmCategory.HARM_CATEGORY_DANGEROUS_CONTENT,
].map((category) => ({ category, threshold: HarmBlockThreshold.BLOCK_MEDIUM_AND_ABOVE }));

/** Finish reasons after which the candidate is withheld (nothing usable to show). */
const BLOCKED_FINISH = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'LANGUAGE']);

export type GeminiFailure = 'timeout' | 'aborted' | 'upstream';

export class GeminiError extends Error {
  constructor(
    message: string,
    readonly kind: GeminiFailure,
    /** Upstream HTTP status when there was one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GeminiError';
  }
}

export interface ModelTurn {
  /** The model's content parts: one merged text part (if any) followed by its function calls. */
  parts: Part[];
  /** The candidate (or the prompt) was blocked by a safety filter. */
  blocked: boolean;
  finishReason?: string;
}

export interface GenerateOptions {
  /** streamGenerateContent (SSE) instead of generateContent. */
  stream: boolean;
  /** false: function calling mode NONE for this call (the last round of a tool loop). */
  allowTools: boolean;
  /** Aborts the call (stream duration cap, client gone). */
  signal?: AbortSignal;
  /** Each text delta as it arrives (streaming) or the whole text (non-streaming). */
  onText?: (text: string) => void | Promise<void>;
}

export interface GeminiModel {
  generate(contents: Content[], options: GenerateOptions): Promise<ModelTurn>;
}

export interface ModelSetup {
  systemInstruction: string;
  /** Built once by the caller and never mutated (a request must not change another request's tools). */
  tools: readonly Tool[];
  timeoutMs?: number;
}

/** Whether the assistant can run at all (GEMINI_API_KEY set). */
export function geminiConfigured(config: Config): boolean {
  return Boolean(config.GEMINI_API_KEY);
}

export function createGeminiModel(config: Config, setup: ModelSetup): GeminiModel {
  if (!config.GEMINI_API_KEY) throw new GeminiError('GEMINI_API_KEY is not set', 'upstream');
  const model = new GoogleGenerativeAI(config.GEMINI_API_KEY).getGenerativeModel(
    {
      model: config.GEMINI_MODEL,
      systemInstruction: setup.systemInstruction,
      tools: setup.tools as Tool[],
      safetySettings: SAFETY_SETTINGS,
      generationConfig: { maxOutputTokens: GEMINI_DEFAULTS.maxOutputTokens, temperature: GEMINI_DEFAULTS.temperature },
    },
    { baseUrl: config.GEMINI_API_BASE_URL.replace(/\/+$/, ''), timeout: setup.timeoutMs ?? GEMINI_DEFAULTS.timeoutMs, customHeaders: traceHeaders() },
  );
  return { generate: (contents, options) => generate(model, contents, options) };
}

async function generate(model: GenerativeModel, contents: Content[], options: GenerateOptions): Promise<ModelTurn> {
  const { signal } = options;
  if (signal?.aborted) throw abortedError();
  const request: GenerateContentRequest = { contents };
  if (!options.allowTools) request.toolConfig = { functionCallingConfig: { mode: FunctionCallingMode.NONE } };
  const collector = new TurnCollector();
  try {
    if (options.stream) {
      const result = await model.generateContentStream(request, { signal });
      // The SDK also aggregates the stream into `response`; we do not use it, but it must not reject unobserved.
      result.response.catch(() => {});
      const iterator = result.stream[Symbol.asyncIterator]();
      for (;;) {
        const next = await raceAbort(iterator.next(), signal);
        if (next.done) break;
        const text = collector.add(next.value);
        if (text && options.onText) await options.onText(text);
      }
    } else {
      const result = await model.generateContent(request, { signal });
      const text = collector.add(result.response);
      if (text && options.onText) await options.onText(text);
    }
  } catch (err) {
    throw toGeminiError(err, signal);
  }
  return collector.turn();
}

/** Merges response chunks into one model turn. */
class TurnCollector {
  private text = '';
  private calls: Part[] = [];
  private blocked = false;
  private finishReason?: string;

  /** Returns the text this chunk added. */
  add(chunk: GenerateContentResponse): string {
    if (chunk.promptFeedback?.blockReason) this.blocked = true;
    const candidate = chunk.candidates?.[0];
    if (!candidate) return '';
    if (candidate.finishReason) {
      this.finishReason = candidate.finishReason;
      if (BLOCKED_FINISH.has(candidate.finishReason)) this.blocked = true;
    }
    let added = '';
    for (const part of candidate.content?.parts ?? []) {
      if (part.functionCall) this.calls.push(part);
      else if (typeof part.text === 'string' && !(part as { thought?: boolean }).thought) added += part.text;
    }
    this.text += added;
    return added;
  }

  turn(): ModelTurn {
    const parts: Part[] = [];
    if (this.text) parts.push({ text: this.text });
    parts.push(...this.calls);
    return { parts, blocked: this.blocked, finishReason: this.finishReason };
  }
}

const ABORTED = Symbol('aborted');

function abortedError(): GeminiError {
  return new GeminiError('The model call was cancelled', 'aborted');
}

/** A stuck body read must not outlive the caller's signal. */
async function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) throw abortedError();
  let onAbort!: () => void;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const winner = await Promise.race([promise, aborted]);
    if (winner === ABORTED) {
      promise.catch(() => {});
      throw abortedError();
    }
    return winner as T;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function toGeminiError(err: unknown, signal: AbortSignal | undefined): GeminiError {
  if (err instanceof GeminiError) return err;
  if (signal?.aborted) return abortedError();
  if (err instanceof GoogleGenerativeAIAbortError || (err instanceof Error && err.name === 'AbortError')) {
    return new GeminiError('The model did not answer in time', 'timeout');
  }
  if (err instanceof GoogleGenerativeAIFetchError) return new GeminiError(`Gemini answered ${err.status ?? '?'}`, 'upstream', err.status);
  return new GeminiError(`Gemini call failed: ${err instanceof Error ? err.message.slice(0, 300) : String(err)}`, 'upstream');
}
