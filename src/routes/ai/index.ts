import { createRouter } from '../../router';

/** Not built yet. */
export const aiRoutes = createRouter();
