import type { App } from '../router';
import { registerDocs } from './system/docs';
import { healthRoutes } from './system/health';
import { planRoutes } from './plans';

/** The route tree (ARCHITECTURE §5). Each area is a folder with its own router. */
export function registerRoutes(app: App): void {
  app.route('/', healthRoutes);
  app.route('/api/v1/plans', planRoutes);
  registerDocs(app);
}
