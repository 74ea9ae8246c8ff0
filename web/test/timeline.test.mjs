// Unit tests of the player's activity timeline logic (src/timeline.ts,
// compiled by `npm test` into test-build/): bands, idle stretches, markers,
// next/previous event and the "Skip idle" decision.
// Run: cd web && npm test
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appBands,
  appColors,
  eventAt,
  idleStretches,
  markers,
  parseStartSeconds,
  skipIdleTarget,
  sortEvents,
  stepEvent,
} from '../test-build/timeline.js';

const win = (t_ms, app, title, process) => ({ t_ms, type: 'window', app, title, process });
const ev = (t_ms, type, extra = {}) => ({ t_ms, type, ...extra });

describe('appBands', () => {
  test('a band per application from each window event to the next, the last to the end', () => {
    const events = [
      ev(0, 'session.connect'),
      win(200, 'xterm', 'alice@desk: ~'),
      ev(5000, 'app.start', { process: 'soffice.bin' }),
      win(10_200, 'libreoffice-calc', 'payroll.xlsx - LibreOffice Calc'),
      win(58_200, 'firefox', 'Mozilla Firefox'),
    ];
    assert.deepEqual(appBands(events, 66_000), [
      { app: 'xterm', startMs: 200, endMs: 10_200, title: 'alice@desk: ~' },
      { app: 'libreoffice-calc', startMs: 10_200, endMs: 58_200, title: 'payroll.xlsx - LibreOffice Calc' },
      { app: 'firefox', startMs: 58_200, endMs: 66_000, title: 'Mozilla Firefox' },
    ]);
  });

  test('a title change within one application extends its band; returning to an app starts a new band', () => {
    const events = [win(0, 'xterm', 'a'), win(1000, 'xterm', 'b'), win(2000, 'firefox', 'c'), win(3000, 'xterm', 'd')];
    assert.deepEqual(
      appBands(events, 4000).map((b) => [b.app, b.startMs, b.endMs]),
      [['xterm', 0, 2000], ['firefox', 2000, 3000], ['xterm', 3000, 4000]],
    );
  });

  test('the process names the app without a WM_CLASS; neither: "Unknown application"', () => {
    const events = [win(0, undefined, 't', 'bash'), win(1000, undefined, 'u')];
    assert.deepEqual(appBands(events, 2000).map((b) => b.app), ['bash', 'Unknown application']);
  });

  test('no window event, no band; zero-length bands are left out', () => {
    assert.deepEqual(appBands([ev(0, 'idle'), ev(50_000, 'active')], 60_000), []);
    assert.deepEqual(appBands([win(1000, 'a'), win(1000, 'b')], 2000).map((b) => b.app), ['b']);
    // Duration not known yet (0): the last band has no length.
    assert.deepEqual(appBands([win(1000, 'a')], 0), []);
  });
});

describe('idleStretches', () => {
  test('from each idle to the next active', () => {
    const events = [ev(1000, 'idle'), ev(5000, 'active'), ev(20_000, 'idle'), ev(58_000, 'active')];
    assert.deepEqual(idleStretches(events, 66_000), [
      { startMs: 1000, endMs: 5000 },
      { startMs: 20_000, endMs: 58_000 },
    ]);
  });

  test('a recording that ends idle: the stretch runs to the end', () => {
    assert.deepEqual(idleStretches([ev(20_000, 'idle')], 66_000), [{ startMs: 20_000, endMs: 66_000 }]);
  });

  test('a repeated idle keeps the first start; an active without idle changes nothing', () => {
    const events = [ev(500, 'active'), ev(1000, 'idle'), ev(2000, 'idle'), ev(3000, 'active'), ev(4000, 'active')];
    assert.deepEqual(idleStretches(events, 10_000), [{ startMs: 1000, endMs: 3000 }]);
  });
});

describe('sortEvents and markers', () => {
  test('sorted by media time, stable within one time', () => {
    const events = [ev(5, 'b'), ev(1, 'a'), ev(5, 'c')];
    assert.deepEqual(sortEvents(events).map((e) => e.type), ['a', 'b', 'c']);
  });

  test('a marker per event; events closer than a slot share one', () => {
    const events = [ev(0, 'window'), ev(10, 'idle'), ev(30_000, 'active'), ev(60_000, 'window')];
    assert.deepEqual(markers(events, 60_000, 100), [
      { frac: 0, type: 'window', count: 2 },
      { frac: 0.5, type: 'active', count: 1 },
      { frac: 1, type: 'window', count: 1 },
    ]);
    assert.deepEqual(markers(events, 0), []);
  });

  test('colours: distinct per application in order of appearance', () => {
    const colors = appColors([{ app: 'a' }, { app: 'b' }, { app: 'a' }]);
    assert.equal(colors.size, 2);
    assert.notEqual(colors.get('a'), colors.get('b'));
  });
});

describe('next / previous event', () => {
  const times = [0.2, 10.2, 20, 58, 58.2, 63];

  test('] goes to the first event after now; none after the last', () => {
    assert.equal(stepEvent(times, 0, 1), 0);
    assert.equal(stepEvent(times, 5, 1), 1);
    assert.equal(stepEvent(times, 10.2, 1), 2, 'at an event: the next one');
    assert.equal(stepEvent(times, 63, 1), null);
  });

  test('[ goes back to the event playing, or to the one before within a second of it', () => {
    assert.equal(stepEvent(times, 15, -1), 1);
    assert.equal(stepEvent(times, 10.5, -1), 0);
    assert.equal(stepEvent(times, 0.5, -1), null);
    assert.equal(stepEvent(times, 100, -1), 5);
  });

  test('from the event last gone to, events a few ms apart are each visited', () => {
    assert.equal(stepEvent(times, 58, 1, 3), 4);
    assert.equal(stepEvent(times, 58.2, -1, 4), 3);
    assert.equal(stepEvent(times, 58.3, -1, 4), 3, 'still at it while playing on');
    assert.equal(stepEvent(times, 63, 1, 5), null);
    // Played on past the anchor: steps from the time again.
    assert.equal(stepEvent(times, 30, 1, 1), 3);
  });

  test('the event "now"', () => {
    assert.equal(eventAt(times, 0), -1);
    assert.equal(eventAt(times, 10.2), 1);
    assert.equal(eventAt(times, 59), 4);
  });
});

describe('skip idle', () => {
  const stretches = [
    { startMs: 1000, endMs: 5000 }, // 4 s: played
    { startMs: 20_000, endMs: 58_000 }, // 38 s: skipped
    { startMs: 60_000, endMs: 90_000 }, // exactly 30 s: played ("longer than 30 s")
  ];

  test('playback running into a stretch longer than 30 s jumps to its end', () => {
    assert.equal(skipIdleTarget(stretches, 19.9, 20.1), 58);
    assert.equal(skipIdleTarget(stretches, 19.9, 57.9), 58);
  });

  test('short stretches, a seek into a stretch, and times outside play on', () => {
    assert.equal(skipIdleTarget(stretches, 0.9, 1.1), null, '4 s stretch');
    assert.equal(skipIdleTarget(stretches, 59.9, 60.1), null, '30 s stretch');
    assert.equal(skipIdleTarget(stretches, 30, 30.2), null, 'already inside: the auditor went there');
    assert.equal(skipIdleTarget(stretches, 20, 20.2), null, 'opened at its start (a click on the idle event)');
    assert.equal(skipIdleTarget(stretches, 10, 10.2), null);
    assert.equal(skipIdleTarget(stretches, 19, 58.1), null, 'past its end already');
  });

  test('a stretch at the very start is skipped when playback starts', () => {
    assert.equal(skipIdleTarget([{ startMs: 0, endMs: 40_000 }], -1, 0), 40);
  });

  test('a custom minimum', () => {
    assert.equal(skipIdleTarget(stretches, 0.9, 1.1, 3000), 5);
  });
});

describe('parseStartSeconds', () => {
  test('seconds, with a fraction; anything else is no start', () => {
    assert.equal(parseStartSeconds('10.2'), 10.2);
    assert.equal(parseStartSeconds('0'), 0);
    for (const bad of [null, undefined, '', '-1', '1e3', 'abc', '10s', ' 5']) assert.equal(parseStartSeconds(bad), undefined, String(bad));
  });
});
