import { createRouter } from '../../router';

/** Not built yet. */
export const phoneVerificationRoutes = createRouter();
