//! The training report's pictures as PNG bytes: loss and accuracy curves per epoch, the
//! confusion matrix as a labelled heat map, and a regressor's predicted-vs-actual and residual
//! scatter plots. Text is drawn with the bundled DejaVu Sans font.

use std::error::Error;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;
use crate::metrics::{Metrics, RegressionMetrics};
use crate::training::EpochSummary;

/// Width and height of `curves.png` in pixels.
pub const CURVES_SIZE: (u32, u32) = (1200, 480);
/// Width and height of `confusion.png` in pixels.
pub const CONFUSION_SIZE: (u32, u32) = (760, 720);
/// Width of `fit.png` and the height of each target's row of plots, in pixels.
pub const FIT_ROW_SIZE: (u32, u32) = (1200, 480);
/// Targets drawn in `fit.png`: the first ones, when a model has more.
pub const FIT_MAX_TARGETS: usize = 4;

/// DejaVu Sans (Bitstream Vera licence, in `fonts/LICENSE`), compiled in so that drawing
/// never depends on the fonts a machine has installed.
const FONT: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

const TRAINING_COLOUR: RGBColor = RGBColor(31, 119, 180);
const VALIDATION_COLOUR: RGBColor = RGBColor(255, 127, 14);
const KEPT_COLOUR: RGBColor = RGBColor(44, 160, 44);

type Drawn = Result<(), Box<dyn Error>>;

/// Registers the bundled font with plotters once per process.
fn ensure_font() -> Result<(), ReportError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Draw("the bundled font cannot be read".into()))
    }
}

/// Draws on an in-memory RGB canvas of `size` and encodes it as PNG.
fn render(
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<BitMapBackend, Shift>) -> Drawn,
) -> Result<Vec<u8>, ReportError> {
    ensure_font()?;
    let (width, height) = size;
    let mut pixels = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(root.clone()).map_err(|e| ReportError::Draw(e.to_string()))?;
        root.present()
            .map_err(|e| ReportError::Draw(e.to_string()))?;
    }
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder
        .write_header()
        .map_err(|e| ReportError::Draw(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| ReportError::Draw(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| ReportError::Draw(e.to_string()))?;
    Ok(png_bytes)
}

/// Training and validation loss (left) and accuracy (right) per epoch, with the kept epoch
/// marked; a regressor's history (no accuracy) gets its loss across the whole width.
pub fn curves_png(history: &[EpochSummary], kept_epoch: usize) -> Result<Vec<u8>, ReportError> {
    if history.is_empty() {
        return Err(ReportError::Draw("there are no epochs to draw".into()));
    }
    let classifier = history.iter().any(|e| e.validation_accuracy.is_some());
    render(CURVES_SIZE, |root| {
        root.fill(&WHITE)?;
        let loss_top = history
            .iter()
            .flat_map(|e| [e.train_loss, e.validation_loss])
            .filter(|v| v.is_finite())
            .fold(0f32, f32::max) as f64;
        if !classifier {
            return panel(
                &root,
                history,
                kept_epoch,
                Panel {
                    title: "Loss",
                    y_desc: "MSE of standardised targets",
                    y_top: (loss_top * 1.1).max(1e-3),
                    legend: SeriesLabelPosition::UpperRight,
                    training: |e| e.train_loss as f64,
                    validation: |e| e.validation_loss as f64,
                },
            );
        }
        let (left, right) = root.split_horizontally(CURVES_SIZE.0 / 2);
        panel(
            &left,
            history,
            kept_epoch,
            Panel {
                title: "Loss",
                y_desc: "cross-entropy",
                y_top: (loss_top * 1.1).max(1e-3),
                legend: SeriesLabelPosition::UpperRight,
                training: |e| e.train_loss as f64,
                validation: |e| e.validation_loss as f64,
            },
        )?;
        panel(
            &right,
            history,
            kept_epoch,
            Panel {
                title: "Accuracy",
                y_desc: "share of rows correct",
                y_top: 1.0,
                legend: SeriesLabelPosition::LowerRight,
                training: |e| e.train_accuracy.unwrap_or_default() as f64,
                validation: |e| e.validation_accuracy.unwrap_or_default() as f64,
            },
        )
    })
}

struct Panel {
    title: &'static str,
    y_desc: &'static str,
    y_top: f64,
    legend: SeriesLabelPosition,
    training: fn(&EpochSummary) -> f64,
    validation: fn(&EpochSummary) -> f64,
}

fn panel(
    area: &DrawingArea<BitMapBackend, Shift>,
    history: &[EpochSummary],
    kept_epoch: usize,
    p: Panel,
) -> Drawn {
    let last = history.len().max(2) as i32;
    let mut chart = ChartBuilder::on(area)
        .caption(p.title, (FAMILY, 24))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(1..last, 0f64..p.y_top)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(p.y_desc)
        .x_labels(history.len().clamp(2, 12))
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 16))
        .draw()?;
    for (name, colour, value) in [
        ("training", TRAINING_COLOUR, p.training),
        ("validation", VALIDATION_COLOUR, p.validation),
    ] {
        let points: Vec<(i32, f64)> = history.iter().map(|e| (e.epoch as i32, value(e))).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        chart.draw_series(
            points
                .into_iter()
                .map(|point| Circle::new(point, 3, colour.filled())),
        )?;
    }
    let kept = kept_epoch as i32;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(kept, 0.0), (kept, p.y_top)],
            KEPT_COLOUR.stroke_width(2),
        )))?
        .label(format!("kept epoch {kept_epoch}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], KEPT_COLOUR.stroke_width(2)));
    chart
        .configure_series_labels()
        .label_font((FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(p.legend)
        .draw()?;
    Ok(())
}

/// The confusion matrix as a heat map: true classes down, predicted across, each cell shaded
/// by its share of the true class's rows and labelled with its count.
pub fn confusion_png(metrics: &Metrics, title: &str) -> Result<Vec<u8>, ReportError> {
    let labels: Vec<String> = metrics.per_class.iter().map(|c| c.label.clone()).collect();
    let n = labels.len();
    if n == 0 || metrics.confusion_matrix.len() != n {
        return Err(ReportError::Draw(
            "the confusion matrix is empty or does not match the labels".into(),
        ));
    }
    render(CONFUSION_SIZE, |root| {
        root.fill(&WHITE)?;
        let n = n as i32;
        let label_of = |v: &SegmentValue<i32>, flip: bool| match v {
            SegmentValue::CenterOf(i) => {
                let index = if flip { n - 1 - i } else { *i };
                labels.get(index as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FAMILY, 20))
            .margin(16)
            .x_label_area_size(52)
            .y_label_area_size(72)
            // plotters' integer ranges hold both ends: 0..n-1 is n segments
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_desc("predicted class")
            .y_desc("true class")
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .x_label_formatter(&|v| label_of(v, false))
            .y_label_formatter(&|v| label_of(v, true))
            .draw()?;
        let cell_font = (FAMILY, if n > 20 { 10 } else { 15 });
        for (t, row) in metrics.confusion_matrix.iter().enumerate() {
            let support: u64 = row.iter().sum();
            // true class 0 at the top
            let y = n - 1 - t as i32;
            for (p, &count) in row.iter().enumerate() {
                let share = if support == 0 {
                    0.0
                } else {
                    count as f64 / support as f64
                };
                let shade = |full: u8| (255.0 - share * (255.0 - full as f64)).round() as u8;
                let fill = RGBColor(shade(8), shade(48), shade(107));
                let x = p as i32;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                )))?;
                if count > 0 {
                    let ink = if share > 0.5 { WHITE } else { BLACK };
                    let style = TextStyle::from(cell_font.into_font())
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart.draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        style,
                    )))?;
                }
            }
        }
        Ok(())
    })
}

/// For each target (up to [`FIT_MAX_TARGETS`]) a row of two scatter plots of the test rows:
/// predicted against actual with the line y = x (left), and the residual (predicted − actual)
/// against the prediction with the line y = 0 (right). `truth` and `predicted` are row-major
/// `[rows, targets]`, the targets as `metrics` names them.
pub fn fit_png(
    truth: &[f32],
    predicted: &[f32],
    metrics: &RegressionMetrics,
    title: &str,
) -> Result<Vec<u8>, ReportError> {
    let targets = metrics.per_target.len();
    if targets == 0 || truth.is_empty() || truth.len() != predicted.len() {
        return Err(ReportError::Draw(
            "there are no test rows, or their values do not match the predictions".into(),
        ));
    }
    let drawn = targets.min(FIT_MAX_TARGETS);
    let size = (FIT_ROW_SIZE.0, FIT_ROW_SIZE.1 * drawn as u32);
    render(size, |root| {
        root.fill(&WHITE)?;
        let root = root.titled(title, (FAMILY, 22))?;
        for (t, row) in root.split_evenly((drawn, 1)).iter().enumerate() {
            let m = &metrics.per_target[t];
            let pairs: Vec<(f64, f64)> = truth
                .iter()
                .skip(t)
                .step_by(targets)
                .zip(predicted.iter().skip(t).step_by(targets))
                .map(|(&y, &p)| (y as f64, p as f64))
                .filter(|(y, p)| y.is_finite() && p.is_finite())
                .collect();
            let (left, right) = row.split_horizontally(FIT_ROW_SIZE.0 / 2);
            let (low, high) = span(pairs.iter().flat_map(|&(y, p)| [y, p]));
            let mut chart = ChartBuilder::on(&left)
                .caption(
                    format!("{}: predicted vs actual (R² {:.3})", m.name, m.r2),
                    (FAMILY, 18),
                )
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(72)
                .build_cartesian_2d(low..high, low..high)?;
            chart
                .configure_mesh()
                .x_desc("actual")
                .y_desc("predicted")
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .draw()?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(low, low), (high, high)],
                KEPT_COLOUR.stroke_width(2),
            )))?;
            chart.draw_series(
                pairs
                    .iter()
                    .map(|&(y, p)| Circle::new((y, p), 3, TRAINING_COLOUR.mix(0.6).filled())),
            )?;

            let (p_low, p_high) = span(pairs.iter().map(|&(_, p)| p));
            let limit = pairs
                .iter()
                .map(|(y, p)| (p - y).abs())
                .fold(0f64, f64::max)
                .max(1e-9)
                * 1.05;
            let mut chart = ChartBuilder::on(&right)
                .caption(
                    format!("{}: residuals (RMSE {:.4})", m.name, m.rmse),
                    (FAMILY, 18),
                )
                .margin(14)
                .x_label_area_size(44)
                .y_label_area_size(72)
                .build_cartesian_2d(p_low..p_high, -limit..limit)?;
            chart
                .configure_mesh()
                .x_desc("predicted")
                .y_desc("predicted − actual")
                .label_style((FAMILY, 14))
                .axis_desc_style((FAMILY, 16))
                .draw()?;
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(p_low, 0.0), (p_high, 0.0)],
                KEPT_COLOUR.stroke_width(2),
            )))?;
            chart.draw_series(
                pairs
                    .iter()
                    .map(|&(y, p)| Circle::new((p, p - y), 3, VALIDATION_COLOUR.mix(0.6).filled())),
            )?;
        }
        Ok(())
    })
}

/// The range of `values` with a 5 % margin, never empty.
fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if !(low.is_finite() && high.is_finite()) {
        return (0.0, 1.0);
    }
    let margin = ((high - low) * 0.05).max(1e-9 * high.abs().max(1.0));
    (low - margin, high + margin)
}

/// Size of an attribution chart.
pub const ATTRIBUTION_SIZE: (u32, u32) = (1000, 620);
/// Bars an attribution chart draws; the rest are summed into one.
pub const ATTRIBUTION_BARS: usize = 14;

const RAISES_COLOUR: RGBColor = RGBColor(214, 39, 40);
const LOWERS_COLOUR: RGBColor = RGBColor(31, 119, 180);

/// One explained output of one row as a waterfall: from the background's mean `base` at the
/// bottom, each feature's attribution as a bar (largest first; red raises the output, blue
/// lowers it) up to the `prediction` at the top. `named` pairs each feature's label (name and
/// value) with its attribution.
pub fn attribution_png(
    named: &[(String, f64)],
    base: f64,
    prediction: f64,
    title: &str,
) -> Result<Vec<u8>, ReportError> {
    let mut order: Vec<usize> = (0..named.len()).collect();
    order.sort_by(|&a, &b| named[b].1.abs().total_cmp(&named[a].1.abs()));
    let mut bars: Vec<(String, f64)> = order
        .iter()
        .take(ATTRIBUTION_BARS)
        .map(|&i| named[i].clone())
        .collect();
    if order.len() > ATTRIBUTION_BARS {
        let rest: f64 = order[ATTRIBUTION_BARS..].iter().map(|&i| named[i].1).sum();
        bars.push((
            format!("{} other features", order.len() - ATTRIBUTION_BARS),
            rest,
        ));
    }
    // bottom to top: the smallest bar starts from the base, the largest ends at the prediction
    bars.reverse();
    let mut level = base;
    let mut steps = Vec::with_capacity(bars.len());
    for (label, value) in &bars {
        steps.push((label.clone(), level, level + value));
        level += value;
    }
    let (low, high) = span(
        steps
            .iter()
            .flat_map(|(_, a, b)| [*a, *b])
            .chain([base, prediction]),
    );
    let rows = steps.len().max(1) as i32;
    render(ATTRIBUTION_SIZE, |root| {
        root.fill(&WHITE)?;
        let root = root.titled(title, (FAMILY, 20))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(260)
            .build_cartesian_2d(low..high, (0..rows).into_segmented())?;
        let labels: Vec<String> = steps.iter().map(|(l, _, _)| l.clone()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(WHITE)
            .y_labels(rows as usize)
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => usize::try_from(*i)
                    .ok()
                    .and_then(|i| labels.get(i).cloned())
                    .unwrap_or_default(),
                SegmentValue::Last => String::new(),
            })
            .x_desc(format!(
                "output: base {base:.4} → prediction {prediction:.4}"
            ))
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 16))
            .draw()?;
        chart.draw_series(steps.iter().enumerate().map(|(i, (_, from, to))| {
            let colour = if to >= from {
                RAISES_COLOUR
            } else {
                LOWERS_COLOUR
            };
            let i = i as i32;
            Rectangle::new(
                [
                    (from.min(*to), SegmentValue::Exact(i)),
                    (from.max(*to), SegmentValue::Exact(i + 1)),
                ],
                colour.filled(),
            )
        }))?;
        for x in [base, prediction] {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Last)],
                BLACK.mix(0.4).stroke_width(1),
            )))?;
        }
        Ok(())
    })
}
