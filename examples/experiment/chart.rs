//! The SVG chart, one column per workload, one line per model, clients on a log x axis:
//! throughput (top row), p99 latency (middle row, log) and the share answered (bottom
//! row: requests solid, clients served dashed).
//!
//! Rule: drawing only, from finished cells; plotters' SVG backend is the only output.
//! Censoring rule: a p99 that is only known to be at least the timeout (the requests
//! behind it got no answer) is drawn as a triangle on the timeout line, reached
//! by a dashed segment, never as a measured point. That includes every cell where more
//! than 1 % of the clients never got an answer (the cell sets it: in a closed loop a
//! starved client sends one request per timeout while a served one sends thousands);
//! a p99 from a cell where a few clients (up to 1 %) got nothing is a hollow circle.
//! A server that leaves clients unanswered must not look fast.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::cell::Cell;
use crate::cli::{Grid, Model};
use crate::report;

const PANEL_WIDTH: u32 = 520;
const PANEL_HEIGHT: u32 = 400;
const LEGEND_HEIGHT: u32 = 52;
const GREY: RGBColor = RGBColor(120, 120, 120);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What one row of panels plots.
#[derive(Clone, Copy)]
enum Metric {
    Throughput,
    P99,
    Answered,
}

/// One point of a model's line; `censored`: the value only says "at least this";
/// `partial`: some clients never got an answer, so the value speaks for the others.
#[derive(Clone, Copy)]
struct Point {
    clients: f64,
    value: f64,
    censored: bool,
    partial: bool,
}

impl Point {
    /// Drawn as a measured point (filled, solid lines to it).
    fn is_plain(&self) -> bool {
        !self.censored && !self.partial
    }
}

/// A model's points in one panel: the main line, and the dashed one (clients served).
struct Series {
    model: Model,
    index: usize,
    points: Vec<Point>,
    dashed: Vec<Point>,
}

impl Metric {
    fn title(self, timeout_s: &str) -> String {
        match self {
            Metric::Throughput => "throughput (req/s)".into(),
            Metric::P99 => format!("p99 latency (ms), a timeout counted at {timeout_s}"),
            Metric::Answered => "answered (%): requests solid, clients served dashed".into(),
        }
    }

    fn point(self, cell: &Cell) -> Option<Point> {
        let at = |value: f64, censored: bool| Point {
            clients: cell.clients as f64,
            value,
            censored,
            partial: false,
        };
        match self {
            Metric::Throughput => cell
                .requests_per_s
                .filter(|&r| r > 0.0)
                .map(|r| at(r, false)),
            Metric::P99 => cell.p99_us.map(|us| Point {
                partial: cell
                    .clients_served
                    .is_some_and(|n| (n as usize) < cell.clients),
                ..at(us as f64 / 1000.0, cell.p99_censored)
            }),
            Metric::Answered => cell.answered_share.map(|s| at(s * 100.0, false)),
        }
    }

    /// The second, dashed line of a panel: clients served, in the answered row.
    fn dashed(self, cell: &Cell) -> Option<Point> {
        match self {
            Metric::Answered => cell.clients_served.map(|n| Point {
                clients: cell.clients as f64,
                value: 100.0 * n as f64 / cell.clients.max(1) as f64,
                censored: false,
                partial: false,
            }),
            _ => None,
        }
    }
}

fn color(model: Model) -> RGBColor {
    let (r, g, b) = model.color;
    RGBColor(r, g, b)
}

/// Draws `cells` into an SVG file at `path`.
pub fn draw(path: &Path, grid: &Grid, cells: &[Cell], title: &str) -> Result<(), String> {
    let columns = grid.workloads.len().max(1);
    let rows = [Metric::Throughput, Metric::P99, Metric::Answered];
    let size = (
        PANEL_WIDTH * columns as u32,
        PANEL_HEIGHT * rows.len() as u32 + LEGEND_HEIGHT + 40,
    );
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let (legend, body) = root.split_vertically(LEGEND_HEIGHT);
    let timeout_us = grid.timeout.as_micros() as u64;
    let timeout_s = report::seconds(timeout_us);
    draw_legend(&legend, &grid.models, &timeout_s).map_err(|e| e.to_string())?;
    let panels = body.split_evenly((rows.len(), columns));
    for (row, &metric) in rows.iter().enumerate() {
        for (column, workload) in grid.workloads.iter().enumerate() {
            let series: Vec<Series> = (grid.models.iter().enumerate())
                .map(|(index, &model)| {
                    let mine = || {
                        cells.iter().filter(move |c| {
                            c.model == model.name() && c.workload == workload.path()
                        })
                    };
                    Series {
                        model,
                        index,
                        points: mine().filter_map(|c| metric.point(c)).collect(),
                        dashed: mine().filter_map(|c| metric.dashed(c)).collect(),
                    }
                })
                .collect();
            let caption = format!("{} - {}", workload.path(), metric.title(&timeout_s));
            let area = &panels[row * columns + column];
            let drawn = match metric {
                Metric::Answered => share_panel(area, &caption, grid, &series),
                Metric::Throughput => log_panel(area, &caption, grid, &series, None),
                Metric::P99 => log_panel(
                    area,
                    &caption,
                    grid,
                    &series,
                    Some((timeout_us as f64 / 1000.0, &timeout_s)),
                ),
            };
            drawn.map_err(|e| format!("chart panel {caption}: {e}"))?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// One legend for every panel, in a strip under the title: a line per model, then
/// what the hollow triangles mean.
fn draw_legend(
    area: &Area,
    models: &[Model],
    timeout_s: &str,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let (width, _) = area.dim_in_pixel();
    let start = width as i32 / 2 - 65 * models.len() as i32;
    let font = ("sans-serif", 15).into_font();
    for (i, &model) in models.iter().enumerate() {
        let x = start + 130 * i as i32;
        let style = color(model).stroke_width(3);
        area.draw(&PathElement::new(vec![(x, 12), (x + 30, 12)], style))?;
        area.draw(&Text::new(model.name(), (x + 38, 5), font.clone()))?;
    }
    let censored = format!("p99 censored: at least the {timeout_s} timeout (no answer)");
    let partial = "p99 of the served clients only: others never got an answer";
    let x = width as i32 / 2 - 560;
    area.draw(&TriangleMarker::new((x, 38), 6, BLACK.stroke_width(2)))?;
    area.draw(&Text::new(censored, (x + 14, 31), font.clone()))?;
    let x = x + 400;
    area.draw(&Circle::new((x, 38), 5, BLACK.stroke_width(2)))?;
    area.draw(&Text::new(partial, (x + 14, 31), font.clone()))?;
    let x = x + 440;
    area.draw(&Rectangle::new(
        [(x - 4, 34), (x + 4, 42)],
        BLACK.stroke_width(1),
    ))?;
    area.draw(&Text::new(
        "dashed, squares: clients served",
        (x + 14, 31),
        font,
    ))?;
    Ok(())
}

/// A panel with a log y axis; `timeout`: (ms, label) of the line censored points sit on.
fn log_panel(
    area: &Area,
    caption: &str,
    grid: &Grid,
    series: &[Series],
    timeout: Option<(f64, &str)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let values = || {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.value))
            .chain(timeout.map(|(ms, _)| ms))
    };
    let (y_min, y_max) = match (values().reduce(f64::min), values().reduce(f64::max)) {
        (Some(lo), Some(hi)) => (lo.max(1e-3) / 1.5, hi.max(1e-3) * 1.8),
        _ => (1.0, 10.0),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(
            x_range(grid)
                .log_scale()
                .with_key_points(grid.clients.iter().map(|&c| c as f64).collect()),
            (y_min..y_max)
                .log_scale()
                .with_key_points(log_ticks(y_min, y_max)),
        )?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc("clients")
        .x_label_formatter(&|x| compact(*x))
        .y_label_formatter(&|y| compact(*y))
        .draw()?;
    if let Some((ms, label)) = timeout {
        let (x0, x1) = (x_range(grid).start, x_range(grid).end);
        chart.draw_series(DashedLineSeries::new(
            [(x0, ms), (x1, ms)],
            6,
            4,
            GREY.stroke_width(1),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("timeout {label}: no answer"),
            (x0 * 1.1, ms * 1.25),
            ("sans-serif", 13).into_font().color(&GREY),
        )))?;
    }
    let models = series.len();
    for s in series {
        let style = color(s.model);
        // Censored points of different models coincide on the timeout line: shift
        // each model a little along x so every triangle stays visible.
        let shift = 1.0 + 0.08 * (s.index as f64 - (models as f64 - 1.0) / 2.0);
        let at = |p: &Point| match p.censored {
            true => (p.clients * shift, p.value),
            false => (p.clients, p.value),
        };
        for pair in s.points.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            if a.censored && b.censored {
                continue; // both on the timeout line: the triangles say it
            }
            match a.is_plain() && b.is_plain() {
                true => {
                    chart.draw_series(LineSeries::new([at(a), at(b)], style.stroke_width(2)))?;
                }
                false => {
                    chart.draw_series(DashedLineSeries::new(
                        [at(a), at(b)],
                        5,
                        4,
                        style.stroke_width(2),
                    ))?;
                }
            }
        }
        for p in &s.points {
            if p.censored {
                chart.draw_series(std::iter::once(TriangleMarker::new(
                    at(p),
                    6,
                    style.stroke_width(2),
                )))?;
            } else if p.partial {
                // A latency of the served clients only: hollow, never a plain point.
                chart.draw_series(std::iter::once(Circle::new(
                    at(p),
                    5,
                    style.stroke_width(2),
                )))?;
            } else {
                chart.draw_series(std::iter::once(Circle::new(at(p), 3, style.filled())))?;
            }
        }
    }
    no_data(area, series)
}

/// The answered row: a linear percentage axis from 0 to 100.
fn share_panel(
    area: &Area,
    caption: &str,
    grid: &Grid,
    series: &[Series],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(
            x_range(grid)
                .log_scale()
                .with_key_points(grid.clients.iter().map(|&c| c as f64).collect()),
            -4.0..108.0,
        )?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc("clients")
        .x_label_formatter(&|x| compact(*x))
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.0} %"))
        .draw()?;
    let models = series.len();
    for s in series {
        let style = color(s.model);
        // Many lines sit at 100 %: a small vertical offset per model keeps each visible.
        let lift = 0.9 * (s.index as f64 - (models as f64 - 1.0) / 2.0);
        let at = |p: &Point| (p.clients, p.value + lift);
        chart.draw_series(LineSeries::new(
            s.points.iter().map(at),
            style.stroke_width(2),
        ))?;
        chart.draw_series(
            s.points
                .iter()
                .map(|p| Circle::new(at(p), 3, style.filled())),
        )?;
        chart.draw_series(DashedLineSeries::new(
            s.dashed.iter().map(at),
            6,
            4,
            style.stroke_width(2),
        ))?;
        chart.draw_series(s.dashed.iter().map(|p| {
            Rectangle::new([offset(at(p), -3), offset(at(p), 3)], style.stroke_width(1))
        }))?;
    }
    no_data(area, series)
}

/// A square marker's corner, `d` pixels-ish away: markers are drawn in data space, so
/// this is a tiny multiplicative step on the log x axis and an additive one on y.
fn offset((x, y): (f64, f64), d: i32) -> (f64, f64) {
    (x * (1.0 + 0.03 * d as f64), y + 0.5 * d as f64)
}

fn no_data(area: &Area, series: &[Series]) -> Result<(), Box<dyn std::error::Error>> {
    if series.iter().all(|s| s.points.is_empty()) {
        area.draw_text(
            "no data",
            &("sans-serif", 16).into_text_style(area),
            (PANEL_WIDTH as i32 / 2 - 30, PANEL_HEIGHT as i32 / 2),
        )?;
    }
    Ok(())
}

fn x_range(grid: &Grid) -> std::ops::Range<f64> {
    let x_max = grid.clients.iter().copied().max().unwrap_or(1) as f64;
    let x_min = grid.clients.iter().copied().min().unwrap_or(1) as f64;
    x_min / 1.6..x_max * 1.6
}

/// Tick values for a log axis from `lo` to `hi`: 1-2-5 per decade, or every digit
/// when that gives fewer than three, so even a narrow range is labelled.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let ticks = |digits: &[f64]| -> Vec<f64> {
        decades
            .clone()
            .flat_map(|d| digits.iter().map(move |m| m * 10f64.powi(d)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let coarse = ticks(&[1.0, 2.0, 5.0]);
    match coarse.len() >= 3 {
        true => coarse,
        false => ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]),
    }
}

/// 1, 20, 300, 4k, 50k, 1.2M, 0.05: short axis labels.
fn compact(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{}M", trim(v / 1e6)),
        a if a >= 1e3 => format!("{}k", trim(v / 1e3)),
        a if a >= 1.0 => trim(v),
        _ => format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
    }
}

/// At most two decimals, no trailing zeros.
fn trim(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
