import { createRouter } from '../../router';

/** Not built yet. */
export const settingsRoutes = createRouter();
