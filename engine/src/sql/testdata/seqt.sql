CREATE TABLE `seqt` (
  `id` int(11) NOT NULL DEFAULT nextval(`shop`.`s1`),
  `x` int(11) DEFAULT (nextval(`shop`.`s1`) + 1),
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci