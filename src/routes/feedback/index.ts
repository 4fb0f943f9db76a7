import { createRouter } from '../../router';

/** Not built yet. */
export const feedbackRoutes = createRouter();
