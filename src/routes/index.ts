import type { App } from '../router';
import { registerDocs } from './system/docs';
import { healthRoutes } from './system/health';
import { metricsRoutes } from './system/metrics';
import { planRoutes } from './plans';
import { devEmailRoutes } from './dev/emails';
import { notificationRoutes } from './notifications';
import { profileRoutes } from './profile';
import { settingsRoutes } from './settings';
import { starRoutes } from './stars';
import { clerkWebhook } from './webhooks/clerk';
import { qstashWebhook } from './webhooks/qstash';
import { razorpayWebhook } from './webhooks/razorpay';
import { creditRoutes } from './credits';
import { organizationRoutes } from './organization';
import { paymentRoutes } from './payments';
import { projectRoutes } from './project';
import { teamRoutes } from './team';

/** The route tree (ARCHITECTURE §5). Each area is a folder with its own router. */
export function registerRoutes(app: App): void {
  app.route('/', healthRoutes);
  app.route('/', metricsRoutes);
  app.route('/webhooks/v1', clerkWebhook);
  app.route('/webhooks/v1', razorpayWebhook);
  app.route('/webhooks/v1', qstashWebhook);
  app.route('/api/v1/profile', profileRoutes);
  app.route('/api/v1/stars', starRoutes);
  app.route('/api/v1/settings', settingsRoutes);
  app.route('/api/v1/notifications', notificationRoutes);
  app.route('/api/v1/organization', organizationRoutes);
  app.route('/api/v1/team', teamRoutes);
  app.route('/api/v1/project', projectRoutes);
  app.route('/api/v1/credits', creditRoutes);
  app.route('/api/v1/payments', paymentRoutes);
  app.route('/api/v1/plans', planRoutes);
  app.route('/dev', devEmailRoutes);
  registerDocs(app);
}
