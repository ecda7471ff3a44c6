//! Charts of a report (plotters): built once from the report model, rendered to SVG for the HTML page
//! and to SVG and PNG files in `plots/`. One file per chart family; `style` holds what they share.

mod contention;
mod knee;
mod latency;
mod lens;
mod storm;
pub mod style;
mod timeline;

use super::histogram::{decode, HistogramError};
use super::model::{ServerSettings, VariantReport};
use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Where the chart files go, inside a report folder.
pub const PLOTS_DIR: &str = "plots";

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("cannot draw chart {chart}: {message}")]
    Draw { chart: String, message: String },
    #[error("{what}: {source}")]
    Histogram {
        what: String,
        source: HistogramError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// One side of the charts: a variant of a run, or the base or candidate of a comparison.
pub struct Side<'a> {
    pub label: String,
    pub variant: &'a VariantReport,
}

enum Body {
    Spectrum(latency::Spectrum),
    Distribution(latency::Distribution),
    Lens(lens::Lens),
    Timeline(timeline::Timeline),
    Herds(contention::Herds),
    Knee(knee::Knee),
    Storm(storm::Storm),
}

/// A chart, with the data it draws already taken from the report.
pub struct Chart {
    /// File stem in `plots/`, and the HTML element id.
    pub file: String,
    pub title: String,
    /// How to read it, in one or two sentences.
    pub caption: String,
    body: Body,
}

/// A chart drawn as SVG, ready to inline.
pub struct Rendered {
    pub file: String,
    pub title: String,
    pub caption: String,
    pub svg: String,
}

/// Every chart for these sides, in the order the HTML page shows them.
pub fn charts(sides: &[Side], server: Option<&ServerSettings>) -> Result<Vec<Chart>, PlotError> {
    let mut out = vec![timeline::overview(sides)];
    for side in sides {
        out.push(lens::chart(side, sides, server)?);
    }
    for side in sides {
        out.extend(lens::socket_chart(side, sides, server));
    }
    for side in sides {
        out.push(timeline::chart(side, sides)?);
    }
    for endpoint in ["contacts", "token", "refresh"] {
        out.extend(latency::spectrum(endpoint, sides)?);
        out.extend(latency::distribution(endpoint, sides)?);
    }
    out.extend(storm::chart(sides));
    out.push(contention::herds(sides));
    out.extend(latency::waits(sides)?);
    Ok(out)
}

/// The knee chart of a capacity search, shown before the charts of the run at its answer.
pub fn search_chart(search: &super::search::SearchReport) -> Chart {
    knee::chart(search)
}

impl Chart {
    fn size(&self) -> (u32, u32) {
        match &self.body {
            Body::Timeline(t) if t.panels() == 1 => (960, 380),
            Body::Timeline(t) => (960, 60 + 188 * t.panels() as u32),
            Body::Lens(_) | Body::Knee(_) => (960, 520),
            Body::Storm(_) => (960, 560),
            _ => (960, 440),
        }
    }

    fn draw<DB>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        match &self.body {
            Body::Spectrum(s) => latency::draw_spectrum(s, &self.title, root),
            Body::Distribution(d) => latency::draw_distribution(d, &self.title, root),
            Body::Lens(l) => lens::draw(l, &self.title, root),
            Body::Timeline(t) => timeline::draw(t, &self.title, root),
            Body::Herds(h) => contention::draw(h, &self.title, root),
            Body::Knee(k) => knee::draw(k, &self.title, root),
            Body::Storm(s) => storm::draw(s, &self.title, root),
        }
    }

    fn failed(&self, e: impl std::fmt::Display) -> PlotError {
        PlotError::Draw {
            chart: self.file.clone(),
            message: e.to_string(),
        }
    }

    pub fn svg(&self) -> Result<String, PlotError> {
        if !style::font_ready() {
            return Err(PlotError::Font);
        }
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size()).into_drawing_area();
            self.draw(&root).map_err(|e| self.failed(e))?;
            root.present().map_err(|e| self.failed(e))?;
        }
        Ok(out)
    }

    pub fn png(&self) -> Result<Vec<u8>, PlotError> {
        if !style::font_ready() {
            return Err(PlotError::Font);
        }
        let (w, h) = self.size();
        let mut pixels = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
            self.draw(&root).map_err(|e| self.failed(e))?;
            root.present().map_err(|e| self.failed(e))?;
        }
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| self.failed(e))?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| self.failed(e))?;
        writer.finish().map_err(|e| self.failed(e))?;
        Ok(png)
    }

    pub fn render(&self) -> Result<Rendered, PlotError> {
        Ok(Rendered {
            file: self.file.clone(),
            title: self.title.clone(),
            caption: self.caption.clone(),
            svg: self.svg()?,
        })
    }
}

/// Writes `plots/<file>.svg` and `plots/<file>.png` for every chart into `dir`.
pub fn write_files(charts: &[Chart], rendered: &[Rendered], dir: &Path) -> Result<(), PlotError> {
    let dir = dir.join(PLOTS_DIR);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| PlotError::Write { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    for (chart, svg) in charts.iter().zip(rendered) {
        let path = dir.join(format!("{}.svg", chart.file));
        std::fs::write(&path, &svg.svg).map_err(io(&path))?;
        let path = dir.join(format!("{}.png", chart.file));
        std::fs::write(&path, chart.png()?).map_err(io(&path))?;
    }
    Ok(())
}

/// A histogram from the report, with a message naming it when it does not decode.
fn histogram(text: &str, what: impl FnOnce() -> String) -> Result<Histogram<u64>, PlotError> {
    decode(text).map_err(|source| PlotError::Histogram {
        what: what(),
        source,
    })
}

/// `label` reduced to what is safe in a file name.
fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_matches('-').to_owned()
}
