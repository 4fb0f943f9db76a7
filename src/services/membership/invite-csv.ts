import { AppError } from '../../lib/errors';

/*
 * Bulk invitation lists, as a JSON array or CSV text: parsing only (no I/O). Each entry is validated
 * against the scope afterwards (invite-rows.ts), so every row's problems can be reported at once.
 */

export interface InviteEntry {
  email: string;
  role?: string;
}

export type BulkInput = { invites: InviteEntry[] } | { csv: string };

/** A CSV may carry more rows than one call creates, so all of its errors can be reported at once. */
export const MAX_CSV_ROWS = 1000;

/** Minimal RFC 4180 line splitter: quoted fields may contain commas and doubled quotes. */
function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"' && cur.trim() === '') {
      quoted = true;
      cur = '';
    } else if (ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  out.push(cur.trim());
  return out;
}

/** CSV text with a header row naming `email` and optionally `role` (columns in any order). */
export function parseInviteCsv(csv: string): InviteEntry[] {
  const lines = csv.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/).filter((l) => l.trim() !== '');
  const invalid = (message: string, extra: Record<string, unknown> = {}) =>
    new AppError('VALIDATION_ERROR', message, { details: { issues: [{ path: 'csv', message }], ...extra } });
  if (lines.length < 2) throw invalid('The CSV needs a header row (email,role) and at least one data row');
  const header = splitCsvLine(lines[0]!).map((h) => h.toLowerCase());
  const emailCol = header.indexOf('email');
  const roleCol = header.indexOf('role');
  if (emailCol < 0) throw invalid('The CSV header must name an "email" column (and optionally "role")');
  const rows = lines.slice(1);
  if (rows.length > MAX_CSV_ROWS) throw invalid(`The CSV has ${rows.length} rows; at most ${MAX_CSV_ROWS} are accepted`);
  return rows.map((line) => {
    const cells = splitCsvLine(line);
    const role = roleCol >= 0 ? cells[roleCol] : undefined;
    return { email: cells[emailCol] ?? '', ...(role ? { role } : {}) };
  });
}

/** The entries of a bulk request, whichever form it came in. */
export const entriesOf = (input: BulkInput): InviteEntry[] => ('csv' in input ? parseInviteCsv(input.csv) : input.invites);
