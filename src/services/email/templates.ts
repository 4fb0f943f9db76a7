import { html, raw, safeUrl, type SafeHtml } from '../../lib/html';

/** A rendered email: subject, escaped HTML and a plain-text part. */
export interface RenderedEmail {
  template: string;
  subject: string;
  html: string;
  text: string;
}

interface Layout {
  template: string;
  subject: string;
  heading: string;
  paragraphs: string[];
  action?: { label: string; url: string };
  /** Non-transactional mail carries an unsubscribe link. */
  unsubscribeUrl?: string;
  /** Why this address gets the mail; the default assumes an account holder. */
  reason?: string;
}

const ACCOUNT_REASON = 'you are receiving this because of your FairArena account.';
/** For mail to addresses that may have no account (invites, anonymous support, newsletter). */
const ADDRESS_REASON = 'you are receiving this because this address was entered on FairArena.';

/** The one layout every template renders through: escaping and the text part come for free. */
function render(l: Layout): RenderedEmail {
  const action: SafeHtml | string = l.action
    ? html`<p><a href="${safeUrl(l.action.url)}" style="background:#4f46e5;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none">${l.action.label}</a></p>`
    : '';
  const footer: SafeHtml | string = l.unsubscribeUrl ? html`<p style="color:#888;font-size:12px"><a href="${safeUrl(l.unsubscribeUrl)}">Unsubscribe</a></p>` : '';
  const body = html`<!doctype html><html><body style="font-family:system-ui,sans-serif;max-width:560px;margin:auto;color:#111">
<h1 style="font-size:20px">${l.heading}</h1>
${l.paragraphs.map((p) => html`<p>${p}</p>`)}
${action}
<p style="color:#888;font-size:12px">FairArena${raw(' &middot; ')}${l.reason ?? ACCOUNT_REASON}</p>
${footer}
</body></html>`;
  const text = [l.heading, '', ...l.paragraphs.flatMap((p) => [p, '']), ...(l.action ? [`${l.action.label}: ${l.action.url}`, ''] : []), ...(l.unsubscribeUrl ? [`Unsubscribe: ${l.unsubscribeUrl}`] : [])]
    .join('\n')
    .trim();
  return { template: l.template, subject: l.subject, html: body.value, text };
}

const greeting = (name: string | null | undefined) => (name ? `Hi ${name},` : 'Hi there,');

/** User-supplied text shown in a mail (a ticket subject, a name): one line, at most `max` characters. */
const clip = (text: string, max: number) => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};

export const templates = {
  welcome: (d: { name: string | null; appUrl: string }) =>
    render({
      template: 'welcome',
      subject: 'Welcome to FairArena',
      heading: 'Welcome to FairArena',
      paragraphs: [greeting(d.name), 'Your account is ready. Set up your profile, join an organization and start building.'],
      action: { label: 'Open FairArena', url: d.appUrl },
    }),
  accountDeleted: (d: { name: string | null; retentionDays: number }) =>
    render({
      template: 'account-deleted',
      subject: 'Your FairArena account has been deleted',
      heading: 'Your account has been deleted',
      paragraphs: [
        greeting(d.name),
        `Your FairArena account was deleted. If you sign up again with this email within ${d.retentionDays} days, your account will be recovered. After that your personal data is anonymised.`,
        'If you did not do this, contact support right away.',
      ],
    }),
  accountRecovered: (d: { name: string | null; appUrl: string }) =>
    render({
      template: 'account-recovered',
      subject: 'Your FairArena account has been recovered',
      heading: 'Welcome back',
      paragraphs: [greeting(d.name), 'Your previous FairArena account, with its profile, memberships and credits, has been recovered.'],
      action: { label: 'Open FairArena', url: d.appUrl },
    }),
  // Payments (amounts are preformatted strings such as "₹2,999.00").
  paymentSuccess: (d: { name: string | null; planName: string; credits: number; amount: string; orderId: string; paymentId: string; invoiceUrl: string | null; creditsUrl: string }) =>
    render({
      template: 'payment-success',
      subject: `Payment received: ${d.credits} credits added`,
      heading: 'Thank you for your purchase',
      paragraphs: [
        greeting(d.name),
        `We received your payment of ${d.amount} for the ${d.planName} plan. ${d.credits} credits have been added to your balance.`,
        `Order ${d.orderId} · Payment ${d.paymentId}`,
        ...(d.invoiceUrl ? [`Your receipt: ${d.invoiceUrl}`] : []),
      ],
      action: { label: 'View your credits', url: d.creditsUrl },
    }),
  paymentFailed: (d: { name: string | null; planName: string; amount: string; reason: string | null; retryUrl: string }) =>
    render({
      template: 'payment-failed',
      subject: 'Your FairArena payment did not go through',
      heading: 'Payment failed',
      paragraphs: [
        greeting(d.name),
        `Your payment of ${d.amount} for the ${d.planName} plan failed${d.reason ? `: ${d.reason}` : '.'}`,
        'No credits were added and nothing was charged. If money left your account, it is returned automatically by your bank.',
      ],
      action: { label: 'Try again', url: d.retryUrl },
    }),
  paymentRefunded: (d: { name: string | null; planName: string; refundAmount: string; creditsRemoved: number; fullyRefunded: boolean; creditsUrl: string }) =>
    render({
      template: 'payment-refunded',
      subject: 'Your FairArena refund has been initiated',
      heading: d.fullyRefunded ? 'Your payment has been refunded' : 'Part of your payment has been refunded',
      paragraphs: [
        greeting(d.name),
        `A refund of ${d.refundAmount} for the ${d.planName} plan has been initiated. It usually reaches your account within 5–7 business days.`,
        d.creditsRemoved > 0 ? `${d.creditsRemoved} credits were removed from your balance.` : 'No credits were removed from your balance.',
      ],
      action: { label: 'View your credits', url: d.creditsUrl },
    }),
  refundFailed: (d: { name: string | null; planName: string; supportUrl: string }) =>
    render({
      template: 'refund-failed',
      subject: 'Your FairArena refund could not be processed',
      heading: 'Refund failed',
      paragraphs: [
        greeting(d.name),
        `The refund for your ${d.planName} plan purchase could not be processed by the payment provider.`,
        'Our team has been notified. Contact support and we will sort it out.',
      ],
      action: { label: 'Contact support', url: d.supportUrl },
    }),
  duplicatePaymentRefunded: (d: { name: string | null; planName: string; amount: string; creditsUrl: string }) =>
    render({
      template: 'duplicate-payment-refunded',
      subject: 'You paid twice: we are refunding the extra payment',
      heading: 'Your extra payment is being refunded',
      paragraphs: [
        greeting(d.name),
        `Your order for the ${d.planName} plan was paid twice. Your credits were added once, and the extra payment of ${d.amount} is being refunded in full.`,
        'The refund usually reaches your account within 5–7 business days.',
      ],
      action: { label: 'View your credits', url: d.creditsUrl },
    }),
  disputeLost: (d: { name: string | null; planName: string; amount: string; creditsRemoved: number; shortfall: number; supportUrl: string }) =>
    render({
      template: 'dispute-lost',
      subject: 'A chargeback on your FairArena payment',
      heading: 'Your bank reversed a payment',
      paragraphs: [
        greeting(d.name),
        `Your bank reversed ${d.amount} of your payment for the ${d.planName} plan after a dispute.`,
        d.creditsRemoved > 0 ? `${d.creditsRemoved} credits bought with it were removed from your balance.` : 'No credits were left to remove from your balance.',
        ...(d.shortfall > 0 ? [`${d.shortfall} of those credits had already been used.`] : []),
        'If you did not ask your bank for this, contact support.',
      ],
      action: { label: 'Contact support', url: d.supportUrl },
    }),
  // Organizations and teams. The invite link carries the one-time code (never stored in plaintext).
  // Invitations reach addresses that never asked for them: no name a user chose (organization, team,
  // inviter) goes in a subject, where it would read as our own words; in the body it is escaped and clipped.
  organizationInvite: (d: { inviterName: string | null; orgName: string; roleName: string; url: string; expiresAt: Date }) =>
    render({
      template: 'organization-invite',
      reason: ADDRESS_REASON,
      subject: "You're invited to join an organization on FairArena",
      heading: `Join ${clip(d.orgName, 100)} on FairArena`,
      paragraphs: [
        'Hi there,',
        `${d.inviterName ? clip(d.inviterName, 60) : 'A member'} invited you to join the organization ${clip(d.orgName, 100)} as ${clip(d.roleName, 100)}.`,
        `The invitation is for this email address and expires on ${d.expiresAt.toUTCString()}. Sign in with this address to accept it.`,
        'If you were not expecting this invitation, you can ignore this email.',
      ],
      action: { label: 'Accept the invitation', url: d.url },
    }),
  teamInvite: (d: { inviterName: string | null; orgName: string; teamName: string; roleName: string; url: string; expiresAt: Date }) =>
    render({
      template: 'team-invite',
      reason: ADDRESS_REASON,
      subject: "You've been invited to join a team on FairArena",
      heading: `Join ${clip(d.teamName, 100)} on FairArena`,
      paragraphs: [
        'Hi there,',
        `${d.inviterName ? clip(d.inviterName, 60) : 'A member'} invited you to join the team ${clip(d.teamName, 100)} of ${clip(d.orgName, 100)} as ${clip(d.roleName, 100)}.`,
        `The invitation is for this email address and expires on ${d.expiresAt.toUTCString()}. Sign in with this address to accept or decline it.`,
        'If you were not expecting this invitation, you can ignore this email.',
      ],
      action: { label: 'View the invitation', url: d.url },
    }),
  // Support, reports, newsletter, platform invites, weekly feedback. User-supplied text is clipped
  // and (as everywhere) escaped; none of it is ever put in a subject line.
  /**
   * Anonymous requests go to an address anyone may type in, so their confirmation is fixed text plus
   * the ticket reference only: nothing the requester wrote (subject, message) is relayed.
   */
  supportConfirmation: (
    d: { ticketId: string; supportUrl: string } & ({ anonymous: true } | { anonymous: false; name: string | null; subject: string }),
  ) =>
    render({
      template: 'support-confirmation',
      ...(d.anonymous ? { reason: ADDRESS_REASON } : {}),
      subject: 'We received your support request',
      heading: 'We received your support request',
      paragraphs: [
        greeting(d.anonymous ? null : d.name),
        d.anonymous
          ? `Your support request has been received. Our team will get back to you. Reference: ${d.ticketId}.`
          : `Your request "${clip(d.subject, 80)}" has been received. Our team will get back to you. Reference: ${d.ticketId}.`,
        ...(d.anonymous
          ? ['If you did not contact FairArena support, someone entered your address by mistake: you can ignore this email.']
          : ['You can follow your requests in FairArena.']),
      ],
      ...(d.anonymous ? {} : { action: { label: 'View my requests', url: d.supportUrl } }),
    }),
  reportReceived: (d: { name: string | null; reportId: string; entityType: string }) =>
    render({
      template: 'report-received',
      subject: 'We received your report',
      heading: 'Thank you for your report',
      paragraphs: [
        greeting(d.name),
        `We received your report about a ${d.entityType} and will review it. Reference: ${d.reportId}.`,
        'We may not be able to tell you the outcome, but every report is read.',
      ],
    }),
  newsletterConfirm: (d: { confirmUrl: string; unsubscribeUrl: string }) =>
    render({
      template: 'newsletter-confirm',
      reason: ADDRESS_REASON,
      subject: 'Confirm your FairArena newsletter subscription',
      heading: 'Confirm your subscription',
      paragraphs: [
        'Hi there,',
        'Someone (hopefully you) asked to receive the FairArena newsletter at this address. Confirm to start receiving it.',
        'If this was not you, ignore this email: you will not be subscribed.',
      ],
      action: { label: 'Confirm subscription', url: d.confirmUrl },
      unsubscribeUrl: d.unsubscribeUrl,
    }),
  platformInvite: (d: { inviterName: string | null; signUpUrl: string }) =>
    render({
      template: 'platform-invite',
      reason: ADDRESS_REASON,
      subject: "You're invited to join FairArena",
      heading: "You're invited to FairArena",
      paragraphs: [
        'Hi there,',
        `${d.inviterName ? clip(d.inviterName, 60) : 'A FairArena user'} invited you to join FairArena, the platform for running hackathons.`,
        'This is a one-off invitation: you have not been subscribed to anything. If you are not interested, ignore this email.',
      ],
      action: { label: 'Create your account', url: d.signUpUrl },
    }),
  feedbackRequest: (d: { name: string | null; feedbackUrl: string; unsubscribeUrl: string }) =>
    render({
      template: 'feedback-request',
      subject: "We'd love your feedback",
      heading: 'How is FairArena working for you?',
      paragraphs: [
        greeting(d.name),
        'Tell us in one minute what works and what does not. The link below works once and your answer is anonymous.',
      ],
      action: { label: 'Share your feedback', url: d.feedbackUrl },
      unsubscribeUrl: d.unsubscribeUrl,
    }),
  /** Step-up code. `code` is OTP_PLACEHOLDER: the UserState object fills it in right before sending. */
  stepUpCode: (d: { name: string | null; code: string; ttlMinutes: number; ip: string | null }) =>
    render({
      template: 'step-up-code',
      subject: `${d.code} is your FairArena verification code`,
      heading: 'Confirm it is you',
      paragraphs: [
        greeting(d.name),
        `Your verification code for account settings is: ${d.code}`,
        `It expires in ${d.ttlMinutes} minutes.${d.ip ? ` It was requested from IP address ${d.ip}.` : ''}`,
        'If you did not ask for it, ignore this email and consider changing your password. Never share this code.',
      ],
    }),
  phoneVerified: (d: { name: string | null; phone: string; creditsUrl: string }) =>
    render({
      template: 'phone-verified',
      subject: 'Phone number added to your FairArena account',
      heading: 'Your phone number is verified',
      paragraphs: [greeting(d.name), `The phone number ${d.phone} is now verified on your account.`, 'If this was not you, contact support right away.'],
      action: { label: 'Claim your free credits', url: d.creditsUrl },
    }),
  freeCreditsClaimed: (d: { name: string | null; amount: number; creditsUrl: string }) =>
    render({
      template: 'free-credits-claimed',
      subject: `${d.amount} free credits added to your FairArena account`,
      heading: 'Welcome bonus credited',
      paragraphs: [greeting(d.name), `${d.amount} free credits have been added to your account.`],
      action: { label: 'View your credits', url: d.creditsUrl },
    }),
  dataExportReady: (d: { name: string | null; generatedAt: string; filename: string }) =>
    render({
      template: 'data-export-ready',
      subject: 'Your FairArena data export',
      heading: 'Your data export is ready',
      paragraphs: [
        greeting(d.name),
        `Attached (${d.filename}) is a copy of the data your FairArena account holds, generated ${d.generatedAt}.`,
        'Keep it somewhere safe: it contains your personal data. If you did not request it, contact support right away.',
      ],
    }),
  dataExportFailed: (d: { name: string | null }) =>
    render({
      template: 'data-export-failed',
      subject: 'Your FairArena data export could not be created',
      heading: 'Your data export failed',
      paragraphs: [greeting(d.name), 'We could not create your data export. Please request it again later; if it keeps failing, contact support.'],
    }),
} as const;
