/** Payload type of the settings cache (filled in with the settings routes). */
export type UserSettings = Record<string, unknown>;
