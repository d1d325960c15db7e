//! The training report's pictures as PNG bytes: loss and accuracy curves per epoch, and the
//! confusion matrix as a labelled heat map. Text is drawn with the bundled DejaVu Sans font.

use std::error::Error;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;
use crate::metrics::Metrics;
use crate::training::EpochSummary;

/// Width and height of `curves.png` in pixels.
pub const CURVES_SIZE: (u32, u32) = (1200, 480);
/// Width and height of `confusion.png` in pixels.
pub const CONFUSION_SIZE: (u32, u32) = (760, 720);

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
/// marked.
pub fn curves_png(history: &[EpochSummary], kept_epoch: usize) -> Result<Vec<u8>, ReportError> {
    if history.is_empty() {
        return Err(ReportError::Draw("there are no epochs to draw".into()));
    }
    render(CURVES_SIZE, |root| {
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(CURVES_SIZE.0 / 2);
        let loss_top = history
            .iter()
            .flat_map(|e| [e.train_loss, e.validation_loss])
            .filter(|v| v.is_finite())
            .fold(0f32, f32::max) as f64;
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
                training: |e| e.train_accuracy as f64,
                validation: |e| e.validation_accuracy as f64,
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
