// A scripted stand-in for Gemini's REST API, so the AI assistant works under `npm run dev` without a key.
// It is not a model: a question mentioning teams, organizations, projects, credits, plans, notifications
// or the profile gets the matching function call; a function response gets an answer built from its
// data; anything else gets a canned reply. Speaks generateContent and streamGenerateContent?alt=sse.
import http from 'node:http';

const TOOL_FOR = [
  [/\bteams?\b/i, 'get_user_teams'],
  [/\b(organi[sz]ations?|orgs?)\b/i, 'get_user_organizations'],
  [/\bprojects?\b/i, 'get_user_projects'],
  [/\b(credits?|balance)\b/i, 'get_user_credits'],
  [/\b(plans?|pricing|price)\b/i, 'get_available_plans'],
  [/\bnotifications?\b/i, 'get_user_notifications'],
  [/\bprofile\b/i, 'get_user_profile'],
];

const names = (list) => (Array.isArray(list) ? list.map((x) => x?.name ?? x?.planId ?? x?.title).filter(Boolean) : []);

/** Turn a tool result into a sentence (the data shapes are the app's tool results: {data} or {error}). */
function answerFrom(name, response) {
  if (response?.error) return `I could not get that (${name}): ${JSON.stringify(response.error)}.`;
  const data = response?.data ?? response;
  const list = Array.isArray(data) ? data : Object.values(data ?? {}).find(Array.isArray);
  const found = names(list);
  if (found.length) return `Here is what I found with ${name}: ${found.join(', ')}.`;
  if (Array.isArray(list)) return `I checked with ${name}: there is nothing there yet.`;
  return `Here is what I found with ${name}: ${JSON.stringify(data).slice(0, 400)}`;
}

function reply(contents) {
  const last = contents.at(-1) ?? { parts: [] };
  const fr = last.parts?.find((p) => p.functionResponse)?.functionResponse;
  if (fr) return [{ text: answerFrom(fr.name, fr.response) }];
  const text = last.parts?.map((p) => p.text ?? '').join(' ') ?? '';
  const tool = TOOL_FOR.find(([re]) => re.test(text))?.[1];
  if (tool) return [{ functionCall: { name: tool, args: {} } }];
  return [{ text: `(local model) You said: "${text.slice(0, 200)}". Ask me about your teams, organizations, projects, credits or plans.` }];
}

const chunk = (parts, last) => ({
  candidates: [{ content: { role: 'model', parts }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
  usageMetadata: { promptTokenCount: 0, candidatesTokenCount: 0, totalTokenCount: 0 },
  modelVersion: 'local-fake',
});

export async function startGeminiLocal({ port = 8082, log = () => {} } = {}) {
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    const url = new URL(req.url, 'http://x');
    const m = url.pathname.match(/\/models\/[^/:]+:(generateContent|streamGenerateContent)$/);
    if (req.method !== 'POST' || !m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 404, message: 'not found', status: 'NOT_FOUND' } }));
    }
    let parts;
    try {
      parts = reply(JSON.parse(body).contents ?? []);
    } catch (e) {
      res.writeHead(400, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 400, message: String(e?.message ?? e), status: 'INVALID_ARGUMENT' } }));
    }
    log(`gemini-local ${m[1]} → ${parts[0].functionCall ? `call ${parts[0].functionCall.name}` : 'text'}`);
    if (m[1] === 'generateContent') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(chunk(parts, true)));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const pieces = parts[0].text ? parts[0].text.match(/.{1,24}/gs).map((t) => [{ text: t }]) : [parts];
    for (let i = 0; i < pieces.length; i++) {
      res.write(`data: ${JSON.stringify(chunk(pieces[i], i === pieces.length - 1))}\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
    res.end();
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((r) => server.close(() => r())) };
}
