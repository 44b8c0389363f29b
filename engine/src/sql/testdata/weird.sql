CREATE TABLE `we``ird tbl` (
  `a``b` int(11) NOT NULL,
  `c d` int(11) DEFAULT NULL,
  PRIMARY KEY (`a``b`),
  KEY `k``1` (`c d`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci