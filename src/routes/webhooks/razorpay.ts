import { createRouter } from '../../router';

/** Not built yet. */
export const razorpayWebhook = createRouter();
