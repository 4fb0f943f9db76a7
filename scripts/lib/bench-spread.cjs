// autocannon setupClient (loaded by path in its worker thread): each connection walks the request list from its own
// offset, so concurrent requests belong to different users, as in real traffic, instead of every connection sending
// the same user's request at the same moment. Offsets follow the golden ratio: evenly spread for any connection count.
let next = 0;
module.exports = function spread(client) {
  const list = client.opts.requests;
  if (!Array.isArray(list) || list.length < 2) return;
  const offset = Math.floor(((next++ * 0.6180339887) % 1) * list.length);
  client.setRequests([...list.slice(offset), ...list.slice(0, offset)].map(({ requestBuffer, ...r }) => ({ ...r })));
};
