//! The first pass over a video: what it is, and where each of its frames lives.
//!
//! mmaction2 counts frames the way decord does: it reads every packet of the video stream,
//! and frame *i* is the packet with the *i*-th smallest presentation timestamp. Header frame
//! counts are only estimates (Matroska and WebM have none, variable frame rate breaks
//! `duration × fps`), so vidclass counts packets too. Reading packets does not decode them,
//! which keeps this pass cheap next to decoding.
//!
//! Timestamps can only find frames when every packet has one of its own. Raw streams (`.h264`,
//! `.m2v`) carry none (at most a decode time), MPEG program streams leave some packets without,
//! and a muxer that rounds times can give two frames one timestamp; there frame *i* is the *i*-th
//! frame the decoder puts out, from the start of the stream ([`PacketIndex::in_output_order`]).

use ffmpeg_next as ffmpeg;

use super::source::UrlReads;
use crate::error::{Error, Result};

/// One packet of the video stream, in decode order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketEntry {
    /// Presentation timestamp; the decode position where frames are numbered in output order.
    pub pts: i64,
    pub is_key: bool,
}

/// Every packet of the video stream and the presentation order derived from it.
#[derive(Clone, Debug)]
pub(crate) struct PacketIndex {
    /// Packets in decode (file) order.
    pub packets: Vec<PacketEntry>,
    /// Frame *i* is `packets[order[i]]`: decode positions sorted by presentation time.
    pub order: Vec<usize>,
    /// Packets that could not be read (corrupt data skipped by the demuxer).
    pub unreadable: usize,
    /// Frames are numbered by the order the decoder puts them out, not by timestamp: some
    /// packets have no timestamp, or share one. `pts` is then the packet's decode position.
    pub in_output_order: bool,
}

impl PacketIndex {
    /// Reads all packets of stream `stream_index`. A URL (`url` is `Some`) whose download breaks
    /// off fails, since a partial index would sample only the part that arrived.
    pub(crate) fn read(
        input: &mut ffmpeg::format::context::Input,
        stream_index: usize,
        name: &str,
        url: Option<UrlReads>,
    ) -> Result<Self> {
        let (mut timestamps, mut keys) = (Vec::new(), Vec::new());
        let mut unreadable = 0usize;
        let mut packet = ffmpeg::Packet::empty();
        loop {
            match packet.read(input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::InvalidData) => {
                    unreadable += 1;
                    continue;
                }
                Err(e) => match url {
                    Some(url) => return Err(Error::video(name, url.read_failed(&e))),
                    None if timestamps.is_empty() => {
                        return Err(Error::video(name, format!("cannot read: {e}")));
                    }
                    // A file's read error after some packets: keep what was read, as for a
                    // truncated file.
                    None => break,
                },
            }
            if packet.stream() != stream_index {
                continue;
            }
            timestamps.push(packet.pts());
            keys.push(packet.is_key());
        }
        // Packets without a timestamp sort first; equal ones side by side.
        let mut order: Vec<usize> = (0..timestamps.len()).collect();
        order.sort_by_key(|&i| (timestamps[i], i));
        let in_output_order = order.first().is_some_and(|&i| timestamps[i].is_none())
            || order.windows(2).any(|w| timestamps[w[0]] == timestamps[w[1]]);
        if in_output_order {
            order.sort_unstable();
        }
        let packets = (0..timestamps.len())
            .map(|d| PacketEntry {
                pts: if in_output_order { d as i64 } else { timestamps[d].expect("checked above") },
                is_key: keys[d],
            })
            .collect();
        Ok(PacketIndex { packets, order, unreadable, in_output_order })
    }

    /// Number of frames, as decord's `len()` reports it.
    pub(crate) fn frame_count(&self) -> usize {
        self.order.len()
    }

    /// Presentation timestamp of frame `i`.
    pub(crate) fn frame_pts(&self, i: usize) -> i64 {
        self.packets[self.order[i]].pts
    }

    /// Decode position of the key frame from which frame `i` can be decoded: the last key frame
    /// before it in decode order, or the one before that when frame `i` is a leading picture
    /// shown before its key frame (open GOP).
    pub(crate) fn start_for(&self, i: usize) -> usize {
        let position = self.order[i];
        let pts = self.packets[position].pts;
        let mut keys = (0..=position).rev().filter(|&d| self.packets[d].is_key);
        match keys.next() {
            Some(key) if self.packets[key].pts <= pts => key,
            Some(_) => keys.next().unwrap_or(0),
            None => 0,
        }
    }
}
