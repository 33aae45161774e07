// Peak memory and wall time of a child process, as GNU time's -v report gives them.
export interface TimeReport { maxRssKiB?: number; elapsedS?: number }

/** Reads the fields we use from GNU time's -v report. */
export function parseTimeReport(stderr: string): TimeReport {
  const report: TimeReport = {};
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  if (rss) report.maxRssKiB = Number(rss[1]);
  const wall = /Elapsed \(wall clock\) time \([^)]*\): (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)/.exec(stderr);
  if (wall) report.elapsedS = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  return report;
}
