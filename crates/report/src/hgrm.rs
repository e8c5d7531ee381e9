//! `.hgrm` files: HdrHistogram's percentile-distribution text, written exactly as Java's
//! `AbstractHistogram.outputPercentileDistribution` writes it (the format HdrHistogram's
//! plotter and hdr-plot read), and parsed back into (value, percentile) points for plots.
//!
//! wsbench records latencies in microseconds and writes `.hgrm` values in milliseconds
//! ([`US_TO_MS`] as `unit_scale`), as wrk2 and the HdrHistogram plotter expect.

use hdrhistogram::Histogram;

/// `unit_scale` for histograms recorded in µs, written in ms.
pub const US_TO_MS: f64 = 1000.0;
/// Java's default reporting resolution: five ticks per half-distance to 100%.
pub const DEFAULT_TICKS_PER_HALF: u32 = 5;

/// Formats `h` as HdrHistogram's percentile distribution. Values are divided by
/// `unit_scale` and printed with as many decimals as the histogram has significant digits;
/// `ticks_per_half` rows are reported per halving of the distance to 100%.
pub fn percentile_distribution(h: &Histogram<u64>, unit_scale: f64, ticks_per_half: u32) -> String {
    let digits = usize::from(h.sigfig());
    let ticks = ticks_per_half.max(1);
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for p in java_percentile_points(h, ticks) {
        let value = java_fixed(p.value as f64 / unit_scale, digits);
        let quantile = java_fixed(p.percent / 100.0, 12);
        if p.percent != 100.0 {
            let inverse = java_fixed(1.0 / (1.0 - p.percent / 100.0), 2);
            out.push_str(&format!(
                "{value:>12} {quantile} {:>10} {inverse:>14}\n",
                p.total
            ));
        } else {
            out.push_str(&format!("{value:>12} {quantile} {:>10}\n", p.total));
        }
    }
    let (mean, stdev) = java_mean_stdev(h);
    let max = if h.is_empty() { 0 } else { h.max() };
    out.push_str(&format!(
        "#[Mean    = {:>12}, StdDeviation   = {:>12}]\n",
        java_fixed(mean / unit_scale, digits),
        java_fixed(stdev / unit_scale, digits)
    ));
    out.push_str(&format!(
        "#[Max     = {:>12}, Total count    = {:>12}]\n",
        java_fixed(max as f64 / unit_scale, digits),
        h.len()
    ));
    out.push_str(&format!(
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]\n",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    ));
    out
}

/// Reads the (value, percentile) rows of a `.hgrm` text (percentile as a fraction 0..=1, value
/// in the file's unit). Header, blank and `#` lines, and lines that do not parse, are skipped.
pub fn parse_hgrm(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let value = f.next()?.parse::<f64>().ok()?;
            let pct = f.next()?.parse::<f64>().ok()?;
            (value.is_finite() && (0.0..=1.0).contains(&pct)).then_some((value, pct))
        })
        .collect()
}

/// One reported row: the bucket's highest equivalent value, the percentile level iterated
/// to (in percent, as Java keeps it) and the count up to and including that bucket.
struct Point {
    value: u64,
    percent: f64,
    total: u64,
}

/// Java's `PercentileIterator` over the recorded buckets, with its arithmetic in percent
/// (hdrhistogram's `iter_quantiles` steps in fractions, which lands on other buckets where a
/// level falls exactly on a bucket boundary).
fn java_percentile_points(h: &Histogram<u64>, ticks_per_half: u32) -> Vec<Point> {
    let n = h.len();
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut level = 0.0f64;
    let mut total = 0u64;
    for v in h.iter_recorded() {
        total += v.count_at_value();
        loop {
            let reached = total >= n;
            if reached {
                // The bucket that completes the count: report it at the level it reached,
                // then once more at exactly 100% (Java's "one additional last step").
                if (100.0 * total as f64) / n as f64 >= level {
                    out.push(Point {
                        value: v.value_iterated_to(),
                        percent: level,
                        total,
                    });
                }
                out.push(Point {
                    value: v.value_iterated_to(),
                    percent: 100.0,
                    total,
                });
                return out;
            }
            if (100.0 * total as f64) / n as f64 >= level {
                out.push(Point {
                    value: v.value_iterated_to(),
                    percent: level,
                    total,
                });
                level = next_level(level, ticks_per_half);
            } else {
                break;
            }
        }
    }
    out
}

/// Java's `incrementIterationLevel`: fixed-size ticks within each half-distance to 100%.
fn next_level(level: f64, ticks_per_half: u32) -> f64 {
    let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64;
    let ticks = i64::from(ticks_per_half) * 2f64.powi((halvings + 1) as i32) as i64;
    level + 100.0 / ticks as f64
}

/// Mean and standard deviation as Java computes them (sum of median-equivalent × count,
/// divided once), so the footer matches Java's to the last printed digit.
fn java_mean_stdev(h: &Histogram<u64>) -> (f64, f64) {
    if h.is_empty() {
        return (0.0, 0.0);
    }
    let n = h.len() as f64;
    let mut total = 0.0f64;
    for v in h.iter_recorded() {
        total += h.median_equivalent(v.value_iterated_to()) as f64 * v.count_at_value() as f64;
    }
    let mean = total / n;
    let mut dev_total = 0.0f64;
    for v in h.iter_recorded() {
        let d = h.median_equivalent(v.value_iterated_to()) as f64 - mean;
        dev_total += d * d * v.count_at_value() as f64;
    }
    (mean, (dev_total / n).sqrt())
}

/// Java's `subBucketCount` for a number of significant digits.
fn sub_bucket_count(sigfig: u8) -> u64 {
    let largest = 2.0 * 10f64.powi(i32::from(sigfig));
    let magnitude = largest.log2().ceil() as u32;
    let half_magnitude = magnitude.max(1) - 1;
    1u64 << (half_magnitude + 1)
}

/// Java's `%.{decimals}f`: the shortest decimal that reads back as `v`, rounded half-up.
/// (Rust's `{:.N}` rounds the exact binary value half-to-even, which differs on ties such
/// as 0.9998779296875 at 12 decimals.)
fn java_fixed(v: f64, decimals: usize) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let shortest = format!("{}", v.abs());
    let (int_part, frac_part) = shortest.split_once('.').unwrap_or((&shortest, ""));
    let mut digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let int_len = int_part.len();
    let keep = int_len + decimals;
    if digits.len() > keep {
        let round_up = digits[keep] >= 5;
        digits.truncate(keep);
        if round_up {
            let mut i = keep;
            loop {
                if i == 0 {
                    digits.insert(0, 1);
                    break;
                }
                i -= 1;
                if digits[i] == 9 {
                    digits[i] = 0;
                } else {
                    digits[i] += 1;
                    break;
                }
            }
        }
    } else {
        digits.resize(keep, 0);
    }
    let int_digits = digits.len() - decimals;
    let mut s = String::new();
    if v.is_sign_negative() && digits.iter().any(|&d| d != 0) {
        s.push('-');
    }
    s.extend(digits[..int_digits].iter().map(|d| char::from(b'0' + d)));
    if decimals > 0 {
        s.push('.');
        s.extend(digits[int_digits..].iter().map(|d| char::from(b'0' + d)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    // The fixtures were written by HdrHistogram Java's outputPercentileDistribution from
    // the same values (tests/fixtures/HgrmReference.java mirrors these loops).
    const UNIFORM: &str = include_str!("../tests/fixtures/uniform_ms.hgrm");
    const TAIL: &str = include_str!("../tests/fixtures/tail_ms.hgrm");
    const AUTO: &str = include_str!("../tests/fixtures/auto_raw.hgrm");
    const EMPTY: &str = include_str!("../tests/fixtures/empty.hgrm");

    fn uniform() -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in 1..=10_000 {
            h.record(v).unwrap();
        }
        h.record_n(250_000, 5).unwrap();
        h.record(1_500_000).unwrap();
        h
    }

    fn tail() -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 60_000_000, 3).unwrap();
        for i in 0u64..100_000 {
            let mut v = 200 + ((i * 2_654_435_761) % 4_294_967_296) % 5000;
            if i % 1000 == 999 {
                v = 20_000 + i * 3;
            }
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn matches_java_byte_for_byte_uniform() {
        assert_eq!(percentile_distribution(&uniform(), US_TO_MS, 5), UNIFORM);
    }

    #[test]
    fn matches_java_byte_for_byte_tail() {
        assert_eq!(percentile_distribution(&tail(), US_TO_MS, 5), TAIL);
    }

    #[test]
    fn matches_java_byte_for_byte_auto_resizing_raw_units() {
        let mut h = Histogram::new(2).unwrap();
        for v in 1u64..=300 {
            h.record_n(v * 7, v % 4 + 1).unwrap();
        }
        assert_eq!(percentile_distribution(&h, 1.0, 1), AUTO);
    }

    #[test]
    fn matches_java_byte_for_byte_empty() {
        let h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        assert_eq!(percentile_distribution(&h, US_TO_MS, 5), EMPTY);
    }

    #[test]
    fn java_rounding_is_half_up_on_the_shortest_decimal() {
        assert_eq!(java_fixed(0.9998779296875, 12), "0.999877929688");
        assert_eq!(java_fixed(0.15, 1), "0.2");
        assert_eq!(java_fixed(9.9996, 3), "10.000");
        assert_eq!(java_fixed(1500.159, 3), "1500.159");
        assert_eq!(java_fixed(2.0, 0), "2");
        assert_eq!(java_fixed(-0.0001, 2), "0.00");
    }

    #[test]
    fn parse_reads_value_and_percentile_rows_only() {
        let pts = parse_hgrm(UNIFORM);
        assert_eq!(pts.first(), Some(&(0.001, 0.0)));
        assert_eq!(pts.last(), Some(&(1500.159, 1.0)));
        assert!(pts.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0));
        assert!(parse_hgrm(EMPTY).is_empty());
    }

    #[test]
    fn parse_reads_the_older_java_layout_too() {
        let old = "    Value   Percentile   TotalCount 1/(1-Percentile)\n\n    0.016     0.000000            1         1.00\n 9428.991     1.000000       475109          inf\n#[Mean    =       25.048, StdDeviation   =      120.097]\n";
        assert_eq!(parse_hgrm(old), vec![(0.016, 0.0), (9428.991, 1.0)]);
    }
}
