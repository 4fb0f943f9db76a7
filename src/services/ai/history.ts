import type { Content } from '../../integrations/gemini';

const hasText = (c: Content) => c.parts.some((p) => typeof p.text === 'string' && p.text.length > 0);

/**
 * The history to send with the next message: the last HISTORY_LIMIT messages, starting at a user text
 * message so it never opens with a function call or a dangling function response (whose call was cut off).
 */
export function alignHistory(contents: Content[]): Content[] {
  const start = contents.findIndex((c) => c.role === 'user' && hasText(c));
  return start < 0 ? [] : contents.slice(start);
}
