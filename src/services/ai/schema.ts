import { z } from 'zod';
import { text as freeText } from '../../lib/text';

/**
 * Body of POST /ai/chat and /ai/stream. `metadata` is what the web client knows about the page and its
 * console; it is only read by the get_current_page_context / get_client_debug_info tools, which cut it
 * down further (every model token is paid for). Unknown metadata keys are dropped, not refused:
 * clients differ.
 */

const text = (max: number) => freeText().max(max);
const stamp = z.union([text(64), z.number()]).optional();

export const pageContextSchema = z.object({
  route: text(2048).optional(),
  title: text(500).optional(),
  content: text(20_000).optional(),
  timestamp: stamp,
});

const logEntry = z.union([
  text(5000),
  z.object({ level: text(20).optional(), message: text(5000), timestamp: stamp }),
]);
const errorEntry = z.union([
  text(5000),
  z.object({ message: text(5000), stack: text(10_000).optional(), timestamp: stamp }),
]);

export const debugInfoSchema = z.object({
  consoleLogs: z.array(logEntry).max(200).optional(),
  errors: z.array(errorEntry).max(100).optional(),
  userAgent: text(500).optional(),
  url: text(2048).optional(),
  timestamp: stamp,
});

export const requestMetadataSchema = z.object({
  /** Short label of where the user is ("Team settings"); quoted into the system prompt as untrusted. */
  context: text(200).optional(),
  pageContext: pageContextSchema.optional(),
  debugInfo: debugInfoSchema.optional(),
});

export const assistantRequestSchema = z.strictObject({
  message: text(4000).refine((m) => m.trim().length > 0, 'must not be empty'),
  sessionId: z.uuid(),
  metadata: requestMetadataSchema.optional(),
});

export type RequestMetadata = z.infer<typeof requestMetadataSchema>;
export type AssistantRequest = z.infer<typeof assistantRequestSchema>;
