import { createRouter } from '../../router';

/** Not built yet. */
export const newsletterRoutes = createRouter();
