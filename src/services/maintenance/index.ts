export { anonymiseDeletedUsers } from './anonymise';
export { dailyCleanup, RETENTION } from './cleanup';
export { finishJobRun, startJobRun, type JobOutcome } from './job-runs';
export { SWEEP_AFTER_MS, sweepOutbox } from './outbox';
