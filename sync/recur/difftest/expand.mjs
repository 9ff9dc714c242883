// expand.mjs: the independent side of sync/recur's differential test.
// It reads a JSON array of {name, ics, from, to} on stdin (from/to in Unix
// milliseconds), expands the first VEVENT of each calendar with ical.js
// (using the calendar's own VTIMEZONE blocks), and prints a JSON array of
// {name, starts, ends, error} with every instance that starts in
// [from, to), in Unix milliseconds.
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

const MAX_INSTANCES = 20000;
const cases = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const c of cases) {
  const res = { name: c.name, starts: [], ends: [], error: "" };
  try {
    const cal = new ICAL.Component(ICAL.parse(c.ics));
    ICAL.TimezoneService.reset();
    for (const vtz of cal.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(vtz);
    }
    const event = new ICAL.Event(cal.getFirstSubcomponent("vevent"));
    const it = event.iterator();
    for (let n = 0, next; (next = it.next()); n++) {
      if (n >= MAX_INSTANCES) {
        throw new Error("too many instances");
      }
      const d = event.getOccurrenceDetails(next);
      const start = d.startDate.toJSDate().getTime();
      if (start >= c.to) {
        break;
      }
      if (start >= c.from) {
        res.starts.push(start);
        res.ends.push(d.endDate.toJSDate().getTime());
      }
    }
  } catch (e) {
    res.error = String(e && e.message ? e.message : e);
  }
  out.push(res);
}
process.stdout.write(JSON.stringify(out));
