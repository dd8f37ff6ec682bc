//! The SVG chart: throughput (top row) and p99 latency (bottom row) against clients,
//! one panel per workload, one line per model, log scales on both axes.
//!
//! Rule: drawing only, from finished cells; plotters' SVG backend is the only output.

use std::path::Path;

use plotters::prelude::*;

use crate::cell::Cell;
use crate::cli::{Grid, Model};

const PANEL_WIDTH: u32 = 520;
const PANEL_HEIGHT: u32 = 420;

/// What one row of panels plots.
#[derive(Clone, Copy)]
enum Metric {
    Throughput,
    P99,
}

impl Metric {
    fn title(self) -> &'static str {
        match self {
            Metric::Throughput => "throughput (req/s)",
            Metric::P99 => "p99 latency (ms)",
        }
    }

    fn value(self, cell: &Cell) -> Option<f64> {
        match self {
            Metric::Throughput => cell.requests_per_s.filter(|&r| r > 0.0),
            Metric::P99 => cell.p99_us.map(|us| us as f64 / 1000.0),
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
    let size = (PANEL_WIDTH * columns as u32, PANEL_HEIGHT * 2 + 68);
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|e| e.to_string())?;
    let (legend, body) = root.split_vertically(28);
    draw_legend(&legend, &grid.models).map_err(|e| e.to_string())?;
    let panels = body.split_evenly((2, columns));
    for (row, metric) in [Metric::Throughput, Metric::P99].into_iter().enumerate() {
        for (column, workload) in grid.workloads.iter().enumerate() {
            let series: Vec<(Model, Vec<(f64, f64)>)> = grid
                .models
                .iter()
                .map(|&model| {
                    let points = cells
                        .iter()
                        .filter(|c| c.model == model.name() && c.workload == workload.path())
                        .filter_map(|c| metric.value(c).map(|v| (c.clients as f64, v)))
                        .collect();
                    (model, points)
                })
                .collect();
            let caption = format!("{} - {}", workload.path(), metric.title());
            panel(&panels[row * columns + column], &caption, grid, &series)
                .map_err(|e| format!("chart panel {caption}: {e}"))?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// One legend for every panel, in a strip under the title: a line per model.
fn draw_legend(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    models: &[Model],
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let (width, _) = area.dim_in_pixel();
    let start = width as i32 / 2 - 70 * models.len() as i32;
    for (i, &model) in models.iter().enumerate() {
        let x = start + 140 * i as i32;
        let style = color(model).stroke_width(3);
        area.draw(&PathElement::new(vec![(x, 14), (x + 30, 14)], style))?;
        area.draw(&Text::new(
            model.name(),
            (x + 38, 7),
            ("sans-serif", 15).into_font(),
        ))?;
    }
    Ok(())
}

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    caption: &str,
    grid: &Grid,
    series: &[(Model, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let x_max = grid.clients.iter().copied().max().unwrap_or(1) as f64;
    let x_min = grid.clients.iter().copied().min().unwrap_or(1) as f64;
    let values = || {
        series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
    };
    let (y_min, y_max) = match (values().reduce(f64::min), values().reduce(f64::max)) {
        (Some(lo), Some(hi)) => (lo.max(1e-3) / 1.3, hi.max(1e-3) * 1.3),
        _ => (1.0, 10.0),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(38)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (x_min / 1.5..x_max * 1.5)
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
    for (model, points) in series {
        let style = color(*model);
        chart.draw_series(LineSeries::new(
            points.iter().copied(),
            style.stroke_width(2),
        ))?;
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
    }
    if series.iter().all(|(_, points)| points.is_empty()) {
        area.draw_text(
            "no data",
            &("sans-serif", 16).into_text_style(area),
            (PANEL_WIDTH as i32 / 2 - 30, PANEL_HEIGHT as i32 / 2),
        )?;
    }
    Ok(())
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
