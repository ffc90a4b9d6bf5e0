//! The report's figures as SVG (plotters' SVG backend): per-epoch curves with a band of
//! one standard deviation over seeds, and a bar chart of epoch times.

use crate::report::ReportError;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One line of a curve figure: the mean over seeds per epoch (epoch 1 first) and, with
/// several seeds, mean - std and mean + std; its colour, or the palette's next.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub mean: Vec<f64>,
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    pub color: Option<(u8, u8, u8)>,
}

impl Series {
    fn color(&self, i: usize) -> RGBAColor {
        match self.color {
            Some((r, g, b)) => RGBColor(r, g, b).to_rgba(),
            None => Palette99::pick(i).to_rgba(),
        }
    }
}

/// The RGB colour of hue, saturation and lightness, each in [0, 1].
pub fn hsl(h: f64, s: f64, l: f64) -> (u8, u8, u8) {
    let c = HSLColor(h, s, l).to_rgba();
    (c.0, c.1, c.2)
}

/// One chart of a figure: y-axis label and its series.
pub struct Panel {
    pub y_label: &'static str,
    pub series: Vec<Series>,
}

type Result<T> = std::result::Result<T, ReportError>;

fn draw_err<E: std::fmt::Debug>(e: E) -> ReportError {
    ReportError::Figure(format!("{e:?}"))
}

fn save(path: &Path, svg: &str) -> Result<()> {
    Ok(crate::rundir::write_atomic(path, svg.as_bytes())?)
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

fn panel(area: &DrawingArea<SVGBackend, Shift>, p: &Panel) -> Result<()> {
    let epochs = p
        .series
        .iter()
        .map(|s| s.mean.len())
        .max()
        .unwrap_or(1)
        .max(2);
    let (y0, y1) = range(p.series.iter().flat_map(|s| {
        let band = s.band.iter().flat_map(|(lo, hi)| lo.iter().chain(hi));
        s.mean.iter().chain(band).copied()
    }));
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1..epochs as i32, y0..y1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(p.y_label)
        .draw()
        .map_err(draw_err)?;
    for (i, s) in p.series.iter().enumerate() {
        let color = s.color(i);
        let points = |v: &[f64]| -> Vec<(i32, f64)> {
            v.iter()
                .enumerate()
                .filter(|(_, y)| y.is_finite())
                .map(|(e, &y)| (e as i32 + 1, y))
                .collect()
        };
        if let Some((lo, hi)) = &s.band {
            let mut outline = points(hi);
            outline.extend(points(lo).into_iter().rev());
            chart
                .draw_series(std::iter::once(Polygon::new(outline, color.mix(0.15))))
                .map_err(draw_err)?;
        }
        // Markers too, so a one-epoch run still shows.
        chart
            .draw_series(
                points(&s.mean)
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new(points(&s.mean), color.stroke_width(2)))
            .map_err(draw_err)?;
    }
    Ok(())
}

const LEGEND_WIDTH: u32 = 300;

/// The series' colours and labels in a column of their own, clear of the curves.
fn legend(area: &DrawingArea<SVGBackend, Shift>, series: &[Series]) -> Result<()> {
    for (i, s) in series.iter().enumerate() {
        let color = s.color(i);
        let y = 50 + 20 * i as i32;
        area.draw(&Rectangle::new([(8, y - 5), (26, y + 5)], color.filled()))
            .map_err(draw_err)?;
        area.draw(&Text::new(s.label.clone(), (34, y - 6), ("sans-serif", 13)))
            .map_err(draw_err)?;
    }
    Ok(())
}

/// Panels side by side under one title, with the legend of the first panel's series on
/// the right (every panel shows the same runs).
pub fn curves(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let mut svg = String::new();
    {
        let size = (480 * panels.len().max(1) as u32 + LEGEND_WIDTH, 420);
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let root = root.titled(title, ("sans-serif", 20)).map_err(draw_err)?;
        let (charts, key) = root.split_horizontally(size.0 - LEGEND_WIDTH);
        for (area, p) in charts
            .split_evenly((1, panels.len().max(1)))
            .iter()
            .zip(panels)
        {
            panel(area, p)?;
        }
        legend(&key, panels.first().map_or(&[], |p| &p.series[..]))?;
        root.present().map_err(draw_err)?;
    }
    save(path, &svg)
}

/// Height of the key under a bar chart, clear of its bars.
const KEY_HEIGHT: u32 = 36;

/// Horizontal bars: (label, value, standard deviation) per bar; the key below the chart, so
/// that it covers no bar.
pub fn bars(path: &Path, title: &str, x_label: &str, items: &[(String, f64, f64)]) -> Result<()> {
    let mut svg = String::new();
    {
        let height = 120 + 26 * items.len() as u32 + KEY_HEIGHT;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (plot, key) = root.split_vertically(height - KEY_HEIGHT);
        let max = items
            .iter()
            .map(|i| i.1 + i.2)
            .fold(0.0, f64::max)
            .max(1e-9);
        let n = items.len().max(1);
        let mut chart = ChartBuilder::on(&plot)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(330)
            .build_cartesian_2d(0f64..max * 1.1, -0.5f64..n as f64 - 0.5)
            .map_err(draw_err)?;
        let label = |y: &f64| {
            let i = y.round();
            let near = (y - i).abs() < 1e-6 && i >= 0.0;
            near.then(|| items.get(i as usize).map(|it| it.0.clone()))
                .flatten()
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_labels(n)
            .y_label_formatter(&label)
            .disable_y_mesh()
            .draw()
            .map_err(draw_err)?;
        let color = Palette99::pick(0).to_rgba();
        chart
            .draw_series(items.iter().enumerate().map(|(i, it)| {
                let y = i as f64;
                Rectangle::new([(0.0, y - 0.35), (it.1, y + 0.35)], color.filled())
            }))
            .map_err(draw_err)?;
        // One standard deviation over seeds, where there are several.
        chart
            .draw_series(
                items
                    .iter()
                    .enumerate()
                    .filter(|(_, it)| it.2 > 0.0)
                    .map(|(i, it)| {
                        let y = i as f64;
                        PathElement::new(
                            vec![(it.1 - it.2, y), (it.1 + it.2, y)],
                            BLACK.stroke_width(2),
                        )
                    }),
            )
            .map_err(draw_err)?;
        let font = ("sans-serif", 13);
        let y = (KEY_HEIGHT / 2) as i32;
        key.draw(&Rectangle::new(
            [(342, y - 5), (360, y + 5)],
            color.filled(),
        ))
        .map_err(draw_err)?;
        key.draw(&Text::new(
            "mean over epochs (and seeds)",
            (366, y - 6),
            font,
        ))
        .map_err(draw_err)?;
        key.draw(&PathElement::new(
            vec![(572, y), (590, y)],
            BLACK.stroke_width(2),
        ))
        .map_err(draw_err)?;
        key.draw(&Text::new(
            "± one standard deviation over seeds",
            (596, y - 6),
            font,
        ))
        .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    save(path, &svg)
}
