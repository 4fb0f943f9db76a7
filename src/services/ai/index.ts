export { cancelAction, confirmAction, PENDING_ACTION_TTL_MS, type PendingAction, type ResolvedAction } from './actions';
export { beginTurn, chat, DEFAULT_AI_LIMITS, runTurn, type AiLimits, type Turn, type TurnResult } from './chat';
export { assistantRequestSchema, type AssistantRequest, type RequestMetadata } from './schema';
export { deleteSession, HISTORY_LIMIT } from './sessions';
export { streamTurn, type AiFrame, type FrameWriter } from './stream';
export { GEMINI_TOOLS, TOOL_NAMES, WRITABLE_PROFILE_FIELDS } from './tools';
