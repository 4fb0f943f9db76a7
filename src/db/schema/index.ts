// The whole data model. drizzle-kit reads this file (drizzle.config.ts); src/db/client.ts passes it to drizzle().
export * from './enums';
export * from './users';
export * from './membership';
export * from './plans';
export * from './payments';
export * from './credits';
export * from './notifications';
export * from './support';
export * from './ai';
export * from './events';
export * from './system';
export * from './relations';
