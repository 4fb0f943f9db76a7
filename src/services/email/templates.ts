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
}

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
<p style="color:#888;font-size:12px">FairArena${raw(' &middot; ')}you are receiving this because of your FairArena account.</p>
${footer}
</body></html>`;
  const text = [l.heading, '', ...l.paragraphs.flatMap((p) => [p, '']), ...(l.action ? [`${l.action.label}: ${l.action.url}`, ''] : []), ...(l.unsubscribeUrl ? [`Unsubscribe: ${l.unsubscribeUrl}`] : [])]
    .join('\n')
    .trim();
  return { template: l.template, subject: l.subject, html: body.value, text };
}

const greeting = (name: string | null | undefined) => (name ? `Hi ${name},` : 'Hi there,');

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
} as const;
