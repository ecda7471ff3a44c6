//! The page `compare` writes: the comparison table, the statistics, both sides' summaries, and their
//! charts overlaid.

use super::{charts, render, summary};
use crate::report::compare::{Allowance, Comparison};
use crate::report::model::VariantReport;
use crate::report::plots::Rendered;
use crate::report::significance::Verdict;
use minijinja::value::Serde;
use minijinja::{context, Value};

fn num(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v == v.trunc() && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) if v.abs() < 1.0 => format!("{v:.4}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// The page `compare` writes: the comparison table, both sides' summaries, their charts overlaid.
pub fn compare_page(
    comparison: &Comparison,
    sides: &[(String, &VariantReport)],
    rendered: &[Rendered],
) -> Result<String, minijinja::Error> {
    let (verdict, class) = if comparison.regressed {
        ("REGRESSED", "fail")
    } else if comparison.limits.is_empty() && comparison.capacity.is_none() {
        ("no limits", "none")
    } else {
        ("PASS", "pass")
    };
    let rows = rows(comparison);
    let limits = limits(comparison);
    let significance = significance(comparison);
    let meta = vec![
        ("base", comparison.base.clone()),
        ("candidate", comparison.candidate.clone()),
        ("tool", format!("tokenstorm {}", env!("CARGO_PKG_VERSION"))),
    ];
    render(context! {
        title => "tokenstorm: comparison",
        heading => "tokenstorm comparison",
        tool_version => env!("CARGO_PKG_VERSION"),
        verdict => verdict,
        verdict_class => class,
        meta => Value::from(Serde(meta)),
        // A lowered capacity is the headline of a comparison of two searches.
        warnings => comparison.capacity.iter().map(|c| c.line()).collect::<Vec<_>>(),
        comparison => context! {
            rows => rows,
            limits => limits,
            significance => significance,
            confidence => format!("{:.0}", 100.0 * comparison.confidence),
        },
        variants => Value::from(Serde(sides.iter().map(|(label, v)| summary(label, v)).collect::<Vec<_>>())),
        thresholds => Vec::<String>::new(),
        charts => Value::from(Serde(charts(rendered))),
    })
}

fn rows(comparison: &Comparison) -> Vec<Value> {
    comparison
        .rows
        .iter()
        .map(|r| {
            context! {
                metric => r.metric.clone(),
                base => num(r.base),
                candidate => num(r.candidate),
                delta => num(r.delta),
                delta_pct => r.delta_pct.map_or(String::new(), |p| format!("{p:+.1}%")),
                verdict => r.verdict.name(),
            }
        })
        .collect()
}

fn limits(comparison: &Comparison) -> Vec<Value> {
    comparison
        .limits
        .iter()
        .map(|l| {
            context! {
                result => match (l.regressed, l.exceeded) {
                    (true, _) => "FAIL",
                    (false, true) => "noise",
                    _ => "pass",
                },
                class => if l.regressed { "worse" } else { "better" },
                metric => l.metric.clone(),
                allowance => match l.allowance {
                    Allowance::Percent(p) => format!("+{p}%"),
                    Allowance::Absolute(a) => format!("+{a}"),
                },
                candidate => num(l.candidate),
                allowed_up_to => num(l.allowed_up_to),
            }
        })
        .collect()
}

fn significance(comparison: &Comparison) -> Vec<Value> {
    comparison
        .significance
        .iter()
        .map(|t| {
            let evidence = match (t.diff_low, t.diff_high, t.p_value, t.effect_a) {
                (Some(lo), Some(hi), _, _) => format!("{lo:+.2} .. {hi:+.2} ms"),
                (_, _, Some(p), Some(a)) => format!("p = {p:.2e}, A = {a:.3}"),
                (_, _, Some(p), None) => format!("p = {p:.2e}"),
                _ => String::new(),
            };
            context! {
                metric => t.metric.clone(),
                base => num(t.base),
                candidate => num(t.candidate),
                evidence => evidence,
                verdict => t.verdict.name(),
                class => match t.verdict {
                    Verdict::Regressed => "worse",
                    Verdict::Improved => "better",
                    Verdict::NoChange => "",
                },
            }
        })
        .collect()
}
